package node

import (
	"fmt"
	"math"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/yuinet/yui/job"
	"github.com/yuinet/yui/job/he"
	"github.com/yuinet/yui/sensor"
)

// The slot layout of an encrypted job is stored in the job's record
// (job.Record.Layout), so that the submitting node can still decrypt the
// result after a restart. The record lives in a namespace that only the
// submitting user can read, like the secret key beside it.

// layoutVersion is the first element of an encoded layout.
const layoutVersion = 1

// layoutRecord is the stored form of a sealedJob. The user, grouping and
// aggregates are left out, because the record's user and spec contain
// them, and so are the group keys, which follow from sensor and start.
type layoutRecord struct {
	_         struct{} `cbor:",toarray"`
	Version   uint8
	Scale     int64
	Min, Max  float64
	MaxValues int64
	Groups    []layoutGroup
}

type layoutGroup struct {
	_      struct{} `cbor:",toarray"`
	Sensor string
	Start  int64
	Count  int
	Fields []layoutField
}

type layoutField struct {
	_          struct{} `cbor:",toarray"`
	Name       string
	Sum, Count int
}

var (
	layoutEnc cbor.EncMode
	layoutDec cbor.DecMode
)

func init() {
	var err error
	if layoutEnc, err = cbor.CoreDetEncOptions().EncMode(); err != nil {
		panic(err)
	}
	layoutDec, err = cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		MaxNestedLevels:   6,
		MaxArrayElements:  1 << 13, // at most one group or field per slot
		MaxMapPairs:       16,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// encodeLayout returns the stored form of sj's slot layout.
func encodeLayout(sj *sealedJob) ([]byte, error) {
	rec := layoutRecord{Version: layoutVersion, Scale: sj.plan.Scale, Min: sj.plan.Min, Max: sj.plan.Max,
		MaxValues: sj.plan.MaxValues}
	for _, g := range sj.groups {
		lg := layoutGroup{Sensor: g.sensor, Start: g.start, Count: g.count}
		for _, f := range g.fields {
			lg.Fields = append(lg.Fields, layoutField{Name: f.name, Sum: f.sum, Count: f.count})
		}
		rec.Groups = append(rec.Groups, lg)
	}
	b, err := layoutEnc.Marshal(&rec)
	if err != nil {
		return nil, fmt.Errorf("node: encode slot layout: %w", err)
	}
	if len(b) > job.MaxLayoutBytes {
		return nil, fmt.Errorf("%w: slot layout is %d bytes, limit %d", job.ErrInvalid, len(b), job.MaxLayoutBytes)
	}
	return b, nil
}

// decodeLayout parses a layout written by encodeLayout for a job of user
// and spec. It checks the plan and that every slot is inside one
// ciphertext and used once, so that openSealed never indexes out of range
// or reads one slot as two values.
func decodeLayout(user string, spec *job.Spec, b []byte) (*sealedJob, error) {
	var rec layoutRecord
	if err := layoutDec.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("%w: slot layout of job %s: %v", job.ErrInvalid, spec.ID, err)
	}
	if rec.Version != layoutVersion {
		return nil, fmt.Errorf("%w: slot layout of job %s has version %d, this node reads %d",
			job.ErrInvalid, spec.ID, rec.Version, layoutVersion)
	}
	plan := he.Plan{Scale: rec.Scale, Min: rec.Min, Max: rec.Max, MaxValues: rec.MaxValues}
	if math.IsInf(plan.Min, 0) || math.IsInf(plan.Max, 0) {
		return nil, fmt.Errorf("%w: slot layout of job %s has an infinite range", job.ErrInvalid, spec.ID)
	}
	if err := plan.Check(); err != nil {
		return nil, fmt.Errorf("%w: slot layout of job %s: %w", job.ErrInvalid, spec.ID, err)
	}
	params, err := heParams()
	if err != nil {
		return nil, err
	}
	sj := &sealedJob{user: user, plan: plan, by: spec.Grouping(), aggregates: make(map[string]bool)}
	for _, a := range spec.Aggs {
		sj.aggregates[a] = true
	}
	used := make([]bool, params.Slots())
	take := func(slot int) error {
		if slot < 0 || slot >= len(used) || used[slot] {
			return fmt.Errorf("%w: slot layout of job %s uses slot %d twice or outside 0 to %d",
				job.ErrInvalid, spec.ID, slot, len(used)-1)
		}
		used[slot] = true
		sj.slots = max(sj.slots, slot+1)
		return nil
	}
	for _, g := range rec.Groups {
		if len(g.Sensor) > sensor.MaxSourceLen {
			return nil, fmt.Errorf("%w: slot layout of job %s names a sensor of %d bytes", job.ErrInvalid, spec.ID, len(g.Sensor))
		}
		if err := take(g.Count); err != nil {
			return nil, err
		}
		key, _, _ := job.GroupOf(&sensor.Reading{Source: g.Sensor, Time: time.Unix(g.Start, 0)}, sj.by)
		sg := sealedGroup{key: key, sensor: g.Sensor, start: g.Start, count: g.Count}
		for _, f := range g.Fields {
			if len(f.Name) > sensor.MaxFieldNameLen {
				return nil, fmt.Errorf("%w: slot layout of job %s names a field of %d bytes", job.ErrInvalid, spec.ID, len(f.Name))
			}
			if err := take(f.Sum); err != nil {
				return nil, err
			}
			if err := take(f.Count); err != nil {
				return nil, err
			}
			sg.fields = append(sg.fields, sealedField{name: f.Name, sum: f.Sum, count: f.Count})
		}
		sj.groups = append(sj.groups, sg)
	}
	return sj, nil
}
