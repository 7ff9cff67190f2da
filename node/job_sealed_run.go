package node

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/job"
	"github.com/yuinet/yui/job/he"
	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/search"
	"github.com/yuinet/yui/sensor"
	"github.com/yuinet/yui/storage/store"
)

// Encrypted jobs over a sealed namespace. The submitter maps the
// segments that the query's index filters select to their ciphertext
// records under he/seg/ and makes those the units, reading no plaintext.
// A worker adds its unit's records by page key (he.PageKey), the manager
// merges the page sums, and the submitting node decrypts them with the
// owner's key and adds hours up to the job's groups.

// sealedNamespace returns the seal config of the job's namespace, or nil
// when it is not sealed. For a sealed one it sets the spec's Sealed,
// Scale and Bound from the config and checks the spec again, which
// rejects value conditions and times off the hour.
func (n *Node) sealedNamespace(ctx context.Context, user string, spec *job.Spec, opts SubmitOptions) (*he.SealConfig, error) {
	cfg, _, err := n.readSealConfig(ctx, user, spec.Namespace)
	if err != nil || cfg == nil {
		return nil, err
	}
	if user == "" {
		user = store.DefaultUser
	}
	if cfg.Owner != user {
		return nil, fmt.Errorf("%w: %q is sealed under the BGV key of %s, so only %s can decrypt an encrypted job over it",
			job.ErrInvalid, spec.Namespace, cfg.Owner, cfg.Owner)
	}
	if opts.ScaleGiven && spec.Scale != cfg.Scale {
		return nil, fmt.Errorf("%w: scale %d given, but %q is sealed at scale %d; leave the scale out",
			job.ErrInvalid, spec.Scale, spec.Namespace, cfg.Scale)
	}
	spec.Sealed, spec.Scale, spec.Bound = true, cfg.Scale, cfg.Bound
	return cfg, spec.Validate()
}

// pagedKeys returns the ciphertext records of the segments keys, in the
// same order, and whether the job's page sums must be stored as records
// because more than he.MaxPageSums would not fit one job message. It
// rejects the job when a segment has no ciphertext or when a slot's sum
// could reach T/2.
func (n *Node) pagedKeys(ctx context.Context, user string, spec *job.Spec, cfg *he.SealConfig, keys []string) ([]string, bool, error) {
	infos, err := n.storage.store.List(ctx, user, spec.Namespace, sealedSegmentPrefix)
	if err != nil {
		return nil, false, fmt.Errorf("node: list the ciphertexts of %q: %w", spec.Namespace, err)
	}
	types := make(map[string]string, len(infos))
	for _, info := range infos {
		types[info.Key] = info.ContentType
	}
	params, err := heParams()
	if err != nil {
		return nil, false, err
	}
	perSensor := spec.Grouping().PerSensor
	out := make([]string, 0, len(keys))
	perSlot := make(map[string]int64)
	pages := make(map[string]bool)
	var missing []string
	for _, key := range keys {
		hour, source, ok := search.ParseSegmentKey(key)
		suffix, _ := search.SegmentKeySuffix(key)
		if !ok {
			return nil, false, fmt.Errorf("node: segment key %q names no source and hour", key)
		}
		sealed := sealedSegmentPrefix + suffix
		fields, list, ok := parseSegmentContentType(types[sealed])
		if !ok {
			missing = append(missing, key)
			continue
		}
		out = append(out, sealed)
		if !perSensor {
			source = ""
		}
		perSlot[fmt.Sprint(source, "/", hour)]++
		page, _ := he.PageOf(hour, he.HoursPerPage(params.Slots(), fields), 1)
		pages[fmt.Sprint(source, "/", page, "/", list)] = true
	}
	if len(missing) > 0 {
		return nil, false, fmt.Errorf("%w: %d of the %d segments selected have no ciphertext record, such as %s: they were written before %q was sealed, or by a user who may not read %s; select a time range written after sealing",
			job.ErrInvalid, len(missing), len(keys), missing[0], spec.Namespace, sealConfigKey)
	}
	storeSums := len(pages) > he.MaxPageSums
	if storeSums && perSensor {
		sortBySource(out)
	}
	var maxPerSlot int64
	for _, c := range perSlot {
		maxPerSlot = max(maxPerSlot, c)
	}
	if err := cfg.CheckSum(maxPerSlot, sensor.MaxSegmentReadings); err != nil {
		return nil, false, fmt.Errorf("%w: %d segments add into one hour's slots: %w; group by sensor or select fewer sensors",
			job.ErrInvalid, maxPerSlot, err)
	}
	return out, storeSums, nil
}

// sortBySource orders ciphertext record keys by source, then by key, so
// by hour. Units are cut from consecutive keys, so a unit of a job by
// sensor then stores one page sum per sensor and page it reads, most
// often one or two, where hour order would give it one per segment.
// Segments of one source and hour stay next to each other, as jobUnits
// needs.
func sortBySource(keys []string) {
	source := func(key string) string {
		name := key[strings.LastIndexByte(key, '/')+1:]
		return name[:min(len(name), 2*he.SourceHashSize)]
	}
	slices.SortStableFunc(keys, func(a, b string) int {
		return cmp.Or(strings.Compare(source(a), source(b)), strings.Compare(a, b))
	})
}

// runPagedUnit adds a unit's ciphertext records by page key and returns
// the encoded page sums, or, when the assignment names a sum store, stores
// them there and returns a reference to them, with their digest in stats
// when the job verifies units. It checks each header against its record
// key and the job's scale and bound, and holds no key.
func (s *jobService) runPagedUnit(ctx context.Context, spec *job.Spec, m *wire.JobAssign, stats *unitStats) ([]byte, error) {
	params, err := heParams()
	if err != nil {
		return nil, err
	}
	keys := m.Segments
	for _, key := range keys {
		if !strings.HasPrefix(key, sealedSegmentPrefix) {
			return nil, fmt.Errorf("node: encrypted job %s names record %q outside %s", spec.ID, key, sealedSegmentPrefix)
		}
	}
	records, err := s.readSealedUnit(ctx, spec, keys)
	if err != nil {
		return nil, err
	}
	perSensor := spec.Grouping().PerSensor
	maxKeys := he.MaxPageSums
	if m.SumStore != nil {
		maxKeys = he.MaxUnitSums
	}
	agg := he.NewPageAggregator(params, maxKeys)
	for i, b := range records {
		h, ct, err := params.DecodeSegmentRecord(b)
		if err != nil {
			return nil, fmt.Errorf("node: ciphertext record %q: %w", keys[i], err)
		}
		hour, source, _ := search.ParseSegmentKey("readings/" + strings.TrimPrefix(keys[i], sealedSegmentPrefix))
		switch {
		case h.Source != source || h.Hour != hour:
			return nil, fmt.Errorf("node: ciphertext record %q names source %s hour %d, its key source %s hour %d",
				keys[i], h.Source, h.Hour, source, hour)
		case h.Scale != spec.Scale || h.Bound > spec.Bound:
			return nil, fmt.Errorf("node: ciphertext record %q has scale %d and bound %d, the job scale %d and bound %d",
				keys[i], h.Scale, h.Bound, spec.Scale, spec.Bound)
		}
		key := he.PageKey{Page: h.Page, Fields: h.Fields}
		if perSensor {
			key.Source = h.Source
		}
		if err := agg.Add(key, ct); err != nil {
			return nil, err
		}
	}
	sums := agg.Sums()
	if len(sums) == 0 {
		return nil, fmt.Errorf("node: encrypted unit of job %s names no record", spec.ID)
	}
	if m.SumStore != nil {
		ref, digest, err := s.storeUnitSums(ctx, spec, m, sums)
		stats.digest = digest
		return ref, err
	}
	return he.EncodePageSums(sums)
}

// pagedStatus turns a manager's status of a sealed job into the API's,
// decrypting the result once the job ended. It needs no layout, since
// the spec and the record headers fix every slot.
func (n *Node) pagedStatus(sj *submittedJob, st *wire.JobStatus) (api.JobStatus, error) {
	res, err := apiJobStatus(&wire.JobStatus{JobID: st.JobID, Epoch: st.Epoch, Units: st.Units, Committed: st.Committed,
		Failed: st.Failed, Workers: st.Workers, Done: st.Done, Canceled: st.Canceled, Err: st.Err,
		LeftOut: st.LeftOut, LeftOutErr: st.LeftOutErr, FailedErr: st.FailedErr}, sj.spec)
	if err != nil || (!st.Done && !st.Canceled) {
		return res, err
	}
	res.Groups = []api.AggregateGroup{}
	if len(st.Partial) == 0 {
		return res, nil
	}
	if he.IsSumRefs(st.Partial) {
		ctx, cancel := context.WithTimeout(n.jobs.ctx, openSumsTimeout)
		defer cancel()
		res.Groups, err = n.openStoredSums(ctx, sj, st.Partial)
		return res, err
	}
	user := sj.user
	if user == "" {
		user = store.DefaultUser
	}
	ctx, cancel := context.WithTimeout(n.jobs.ctx, jobSendTimeout)
	defer cancel()
	if res.Groups, err = n.openPaged(ctx, user, sj.spec, st.Partial); err != nil {
		return res, err
	}
	return res, nil
}

// pagedGroup is one group of a decrypted sealed job.
type pagedGroup struct {
	sensor   string
	start    int64
	readings int64
	fields   map[string]*pagedField
}

type pagedField struct {
	sum    big.Int
	values int64
}

// openPaged decrypts a sealed job's page sums with user's key and adds
// their hours up to the job's groups, in the plain job's order.
func (n *Node) openPaged(ctx context.Context, user string, spec *job.Spec, b []byte) ([]api.AggregateGroup, error) {
	groups, err := n.newPagedGroups(user, spec)
	if err != nil {
		return nil, err
	}
	sums, err := groups.params.DecodePageSums(b)
	if err != nil {
		return nil, err
	}
	for _, ps := range sums {
		hours, err := groups.decrypt(ps)
		if err != nil {
			return nil, err
		}
		if err := groups.add(ctx, ps.Key, hours); err != nil {
			return nil, err
		}
	}
	return groups.result()
}

// pagedGroups adds the decrypted page sums of a sealed job up to its
// groups. Sensor names come from the name records under sources/, which
// the owner can read and workers cannot. decrypt is safe for concurrent
// use, add and result are not.
type pagedGroups struct {
	n      *Node
	user   string
	spec   *job.Spec
	by     job.Grouping
	key    *he.OwnerKey
	params he.Params
	names  map[string]string
	groups map[string]*pagedGroup
}

func (n *Node) newPagedGroups(user string, spec *job.Spec) (*pagedGroups, error) {
	key, params, err := n.openingKey(user)
	if err != nil {
		return nil, err
	}
	return &pagedGroups{n: n, user: user, spec: spec, by: spec.Grouping(), key: key, params: params,
		names: make(map[string]string), groups: make(map[string]*pagedGroup)}, nil
}

// decrypt returns the hours of one page sum.
func (pg *pagedGroups) decrypt(ps he.PageSum) ([]he.HourSums, error) {
	slots, err := pg.key.DecryptSlots(ps.Sum)
	if err != nil {
		return nil, err
	}
	return he.PageHours(slots, ps.Key.Page, len(ps.Key.Fields))
}

// add adds the hours of one page sum to their groups. Adding the
// decrypted hours of several sums of one page key gives what decrypting
// their ciphertext sum gives, since the submitter checked that no slot's
// total reaches T/2.
func (pg *pagedGroups) add(ctx context.Context, key he.PageKey, hours []he.HourSums) error {
	name := ""
	if pg.by.PerSensor {
		var err error
		if name, err = pg.n.sourceName(ctx, pg.user, pg.spec.Namespace, key.Source, pg.names); err != nil {
			return err
		}
	}
	for _, h := range hours {
		k, source, start := job.GroupOf(&sensor.Reading{Source: name, Time: time.Unix(h.Hour*3600, 0)}, pg.by)
		g := pg.groups[k]
		if g == nil {
			g = &pagedGroup{sensor: source, start: start, fields: make(map[string]*pagedField)}
			pg.groups[k] = g
		}
		g.readings += h.Readings
		for i, f := range key.Fields {
			if h.Counts[i] == 0 {
				continue
			}
			pf := g.fields[f]
			if pf == nil {
				pf = &pagedField{}
				g.fields[f] = pf
			}
			pf.sum.Add(&pf.sum, big.NewInt(h.Sums[i]))
			pf.values += h.Counts[i]
		}
	}
	return nil
}

// result returns the groups in the plain job's order, with the
// aggregates the job asked for.
func (pg *pagedGroups) result() ([]api.AggregateGroup, error) {
	spec := pg.spec
	aggs := make(map[string]bool)
	for _, a := range spec.Aggs {
		aggs[a] = true
	}
	out := make([]api.AggregateGroup, 0, len(pg.groups))
	for _, k := range slices.Sorted(maps.Keys(pg.groups)) {
		g := pg.groups[k]
		ag := api.AggregateGroup{Sensor: g.sensor, Count: int(g.readings), Fields: make(map[string]api.FieldStats)}
		if pg.by.Time != search.All {
			start := time.Unix(g.start, 0).UTC()
			ag.Start = &start
		}
		for name, f := range g.fields {
			// Every value's magnitude is at most the bound, so a larger
			// sum means a wrapped slot or a tampered ciphertext.
			limit := new(big.Int).Mul(big.NewInt(f.values), big.NewInt(spec.Bound*spec.Scale))
			if new(big.Int).Abs(&f.sum).Cmp(limit) > 0 {
				return nil, fmt.Errorf("%w: field %q of group %s sums to %v units over %d values, at most %v",
					he.ErrCorrupt, name, k, &f.sum, f.values, limit)
			}
			ag.Fields[name] = pagedStats(&f.sum, f.values, spec.Scale, aggs)
		}
		out = append(out, ag)
	}
	return out, nil
}

// pagedStats returns the aggregates a job asked for of one field: the
// sum and the mean are exact quotients, rounded to float64 once.
func pagedStats(sum *big.Int, values, scale int64, aggs map[string]bool) api.FieldStats {
	fs := api.FieldStats{Count: int(values)}
	total, _ := new(big.Rat).SetFrac(sum, big.NewInt(scale)).Float64()
	mean, _ := new(big.Rat).SetFrac(sum, new(big.Int).Mul(big.NewInt(values), big.NewInt(scale))).Float64()
	if aggs["sum"] {
		fs.Sum = &total
	}
	if aggs["mean"] {
		fs.Mean = &mean
	}
	return fs
}

// sourceName returns the name of the source whose hash is hash, from its
// name record, caching it in names.
func (n *Node) sourceName(ctx context.Context, user, ns, hash string, names map[string]string) (string, error) {
	if name, ok := names[hash]; ok {
		return name, nil
	}
	var b bytes.Buffer
	_, err := n.storage.store.Get(ctx, user, ns, sourceNamePrefix+hash, &b, store.GetOptions{})
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return "", fmt.Errorf("node: no name record %s%s for a sensor of the result: %w", sourceNamePrefix, hash, err)
		}
		return "", fmt.Errorf("node: read sensor name %s%s: %w", sourceNamePrefix, hash, err)
	}
	name := b.String()
	if len(name) > sensor.MaxSourceLen || search.SourceHash(name) != hash {
		return "", fmt.Errorf("%w: name record %s%s does not hash to its key", he.ErrCorrupt, sourceNamePrefix, hash)
	}
	names[hash] = name
	return name, nil
}
