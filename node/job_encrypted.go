package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/job"
	"github.com/yuinet/yui/job/he"
	"github.com/yuinet/yui/search"
	"github.com/yuinet/yui/sensor"
	"github.com/yuinet/yui/storage/store"
)

// Encrypted jobs. The submitting node acts for the data owner. It reads
// the job's segments as the owner and encrypts each segment's per-group
// sums and counts under the owner's BGV public key into a record under
// sealedPrefix. Workers get the keys of those records instead of the
// segments, read them as a reader granted only that prefix, and add them
// without any key. The manager adds the units' sums. Only the submitting
// node, which keeps the owner's secret key, decrypts. docs/jobs.md
// ("Encrypted jobs") gives the slot layout and the limits.

// sealedPrefix starts the key of every record an encrypted job stores.
// Granting a worker's reader this prefix lets it read ciphertexts and no
// plaintext segment.
const sealedPrefix = "he/"

// Record content types of encrypted jobs.
const (
	sealedContentType    = "application/vnd.yui.bgv-ciphertext"
	publicKeyContentType = "application/vnd.yui.bgv-public-key"
)

// sealedPutParallelism bounds the ciphertext records stored at once.
const sealedPutParallelism = 4

// ownerKeySuffix ends the file name of a user's BGV key pair in the
// users folder, beside the user's NAME.pem.
const ownerKeySuffix = ".bgv"

// ErrSealedLayout reports an encrypted job whose groups do not fit one
// ciphertext's slots.
var ErrSealedLayout = errors.New("node: encrypted job has too many groups")

// sealedJob is the submitter's record of what each slot of an encrypted
// job's result means. It never leaves the submitting node.
type sealedJob struct {
	user string
	plan he.Plan
	by   job.Grouping
	// aggregates are the aggregates the job asked for.
	aggregates map[string]bool
	groups     []sealedGroup
	slots      int
}

// sealedGroup is one group's place in the slots.
type sealedGroup struct {
	key    string
	sensor string
	start  int64 // Unix seconds
	// count is the slot of the group's reading count.
	count  int
	fields []sealedField
}

// sealedField is one numeric field's sum and count slots in a group.
type sealedField struct {
	name       string
	sum, count int
}

// segmentSums are one segment's readings reduced to fixed-point sums by
// group, before they get slots.
type segmentSums map[string]*groupSums

type groupSums struct {
	sensor   string
	start    int64
	readings int64
	fields   map[string]*fieldSums
}

type fieldSums struct {
	sum, count int64
}

// heParams are the BGV parameters, the same on every node.
var heParams = sync.OnceValues(he.NewParams)

// ownerKey returns user's BGV key pair from the data folder, creating it
// on first use, and publishes its public key in namespace.
func (n *Node) ownerKey(ctx context.Context, user, namespace string) (*he.OwnerKey, error) {
	if user == "" {
		user = store.DefaultUser
	}
	// LoadUser checks the name, which becomes part of a file name.
	if _, err := n.storage.store.LoadUser(user); err != nil {
		return nil, err
	}
	n.jobs.keyMu.Lock()
	defer n.jobs.keyMu.Unlock()
	key, err := n.loadOwnerKey(user)
	if errors.Is(err, os.ErrNotExist) {
		key, err = n.createOwnerKey(user)
	}
	if err != nil {
		return nil, err
	}
	return key, n.publishPublicKey(ctx, user, namespace, key.PublicKey())
}

// createOwnerKey makes user's BGV key pair and writes it beside the
// user's key file, readable by the node's account alone.
func (n *Node) createOwnerKey(user string) (*he.OwnerKey, error) {
	params, err := heParams()
	if err != nil {
		return nil, err
	}
	key := he.GenerateKey(params)
	b, err := key.MarshalBinary()
	if err != nil {
		return nil, err
	}
	path := n.ownerKeyPath(user)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("node: create users folder: %w", err)
	}
	if err := writeFileAtomic(path, b); err != nil {
		return nil, err
	}
	n.log.Info("created BGV key pair for encrypted jobs", "user", user, "file", path)
	return key, nil
}

func (n *Node) ownerKeyPath(user string) string {
	return filepath.Join(n.cfg.DataDir, "users", user+ownerKeySuffix)
}

// loadOwnerKey reads user's BGV key pair from the data folder. A missing
// file fails with an error wrapping os.ErrNotExist.
func (n *Node) loadOwnerKey(user string) (*he.OwnerKey, error) {
	params, err := heParams()
	if err != nil {
		return nil, err
	}
	path := n.ownerKeyPath(user)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("node: read BGV key file: %w", err)
	}
	key, err := params.DecodeOwnerKey(b)
	if err != nil {
		return nil, fmt.Errorf("node: BGV key file %s: %w; move it away to make a new key, which cannot decrypt older results", path, err)
	}
	return key, nil
}

// openingKey returns user's BGV key pair and the parameters, what every
// decryption of a job's result needs.
func (n *Node) openingKey(user string) (*he.OwnerKey, he.Params, error) {
	params, err := heParams()
	if err != nil {
		return nil, he.Params{}, err
	}
	key, err := n.loadOwnerKey(user)
	return key, params, err
}

// publishPublicKey stores pk at he/keys/USER in namespace unless it is
// there already, so that writers and workers can fetch it.
func (n *Node) publishPublicKey(ctx context.Context, user, namespace string, pk *he.PublicKey) error {
	b, err := pk.MarshalBinary()
	if err != nil {
		return err
	}
	key := sealedPrefix + "keys/" + user
	var old bytes.Buffer
	_, err = n.storage.store.Get(ctx, user, namespace, key, &old, store.GetOptions{})
	if err == nil && bytes.Equal(old.Bytes(), b) {
		return nil
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("node: read published BGV public key %q: %w", key, err)
	}
	opts := store.PutOptions{ContentType: publicKeyContentType, Size: int64(len(b))}
	if _, err := n.storage.store.Put(ctx, user, namespace, key, bytes.NewReader(b), opts); err != nil {
		return fmt.Errorf("node: publish BGV public key at %q: %w", key, err)
	}
	return nil
}

// sealSegments reads the job's segments as user, encrypts each one's
// sums, stores the ciphertexts and returns their record keys, which
// stand in for the segments as the job's input, with the slot layout.
func (n *Node) sealSegments(ctx context.Context, user string, spec *job.Spec, q search.Query, keys []string) ([]string, *sealedJob, error) {
	key, err := n.ownerKey(ctx, user, spec.Namespace)
	if err != nil {
		return nil, nil, err
	}
	// The segments of one source and hour are read together, so that a
	// reading stored twice counts once, as in queries.
	var segs [][]sensor.Reading
	for _, group := range search.SourceHours(keys) {
		rs, err := n.search.querier.Segments(ctx, user, q, group)
		if err != nil {
			return nil, nil, err
		}
		if len(rs) > 0 {
			segs = append(segs, rs)
		}
	}
	sj, sums, err := newSealedJob(user, spec, segs)
	if err != nil {
		return nil, nil, err
	}
	enc, err := he.NewEncryptor(key.PublicKey(), sj.plan)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", job.ErrInvalid, err)
	}
	records := make([][]byte, len(sums))
	for i, s := range sums {
		ct, err := enc.EncryptSlots(sj.slotsOf(s))
		if err != nil {
			return nil, nil, err
		}
		if records[i], err = ct.MarshalBinary(); err != nil {
			return nil, nil, err
		}
	}
	out, err := n.putSealed(ctx, user, spec, records)
	if err != nil {
		return nil, nil, err
	}
	return out, sj, n.checkSealedReader(ctx, spec, out)
}

// checkSealedReader reads the first ciphertext record as the job's
// reader on this node, one of the job's workers, so that a reader
// without a grant on he/ fails the submission at once, as checkReader
// does for plain jobs.
func (n *Node) checkSealedReader(ctx context.Context, spec *job.Spec, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	_, err := n.jobs.readSealedUnit(ctx, spec, keys[:1])
	switch {
	case errors.Is(err, store.ErrUnknownUser):
		return fmt.Errorf("%w: reader %q is not a user of this node; create it on every worker node with 'yui user create %s' and grant it read access to %s: %v",
			ErrReader, spec.Reader, spec.Reader, sealedPrefix, err)
	case errors.Is(err, store.ErrForbidden):
		return fmt.Errorf("%w: reader %q cannot read %s in namespace %q; %s: %v",
			ErrReader, spec.Reader, sealedPrefix, spec.Namespace, n.grantAdvice(spec.Namespace, sealedPrefix, spec.Reader), err)
	}
	// Other errors, such as holders out of reach, may pass; the workers
	// retry them.
	return nil
}

// putSealed stores the ciphertexts under he/jobs/ID/ and returns their
// keys in order.
func (n *Node) putSealed(ctx context.Context, user string, spec *job.Spec, records [][]byte) ([]string, error) {
	keys := make([]string, len(records))
	for i := range records {
		keys[i] = fmt.Sprintf("%sjobs/%s/%06d", sealedPrefix, spec.ID, i)
	}
	failed := forEachLimit(len(records), sealedPutParallelism, func(i int) error {
		opts := store.PutOptions{ContentType: sealedContentType, Size: int64(len(records[i]))}
		if _, err := n.storage.store.Put(ctx, user, spec.Namespace, keys[i], bytes.NewReader(records[i]), opts); err != nil {
			return fmt.Errorf("node: store ciphertext %q: %w", keys[i], err)
		}
		return nil
	})
	return keys, errors.Join(failed...)
}

// forEachLimit calls fn for every index below n, at most limit calls at
// once, and returns the errors of the calls that failed, in index order.
// Ciphertext records are 262 KB each, so the limit bounds the memory and
// the streams in flight.
func forEachLimit(n, limit int, fn func(i int) error) []error {
	errs := make([]error, n)
	slots := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i := range n {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			errs[i] = fn(i)
		})
	}
	wg.Wait()
	return slices.DeleteFunc(errs, func(err error) bool { return err == nil })
}

// newSealedJob bounds the job's values with a plan and gives every group
// and numeric field of segs its slots, groups in key order and fields by
// name, and returns each segment's sums too. It rejects a job whose worst-case sum could reach T/2
// (he.ErrOverflow), a value with more decimals than the scale keeps, and
// a layout larger than one ciphertext.
func newSealedJob(user string, spec *job.Spec, segs [][]sensor.Reading) (*sealedJob, []segmentSums, error) {
	sj := &sealedJob{user: user, by: spec.Grouping(), aggregates: make(map[string]bool)}
	for _, a := range spec.Aggs {
		sj.aggregates[a] = true
	}
	plan, err := planOf(spec.Scale, segs)
	if err != nil {
		return nil, nil, err
	}
	sj.plan = plan

	all := make(segmentSums)
	perSegment := make([]segmentSums, len(segs))
	for i, rs := range segs {
		if perSegment[i], err = sj.sums(rs); err != nil {
			return nil, nil, err
		}
		all.merge(perSegment[i])
	}
	groupKeys := make([]string, 0, len(all))
	for k := range all {
		groupKeys = append(groupKeys, k)
	}
	slices.Sort(groupKeys)
	for _, k := range groupKeys {
		g := all[k]
		sg := sealedGroup{key: k, sensor: g.sensor, start: g.start, count: sj.slots}
		sj.slots++
		names := make([]string, 0, len(g.fields))
		for name := range g.fields {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			sg.fields = append(sg.fields, sealedField{name: name, sum: sj.slots, count: sj.slots + 1})
			sj.slots += 2
		}
		sj.groups = append(sj.groups, sg)
	}

	params, err := heParams()
	if err != nil {
		return nil, nil, err
	}
	if sj.slots > params.Slots() {
		return nil, nil, fmt.Errorf("%w: %w: %d groups and their fields need %d slots, one ciphertext has %d; group more coarsely or select less time",
			job.ErrInvalid, ErrSealedLayout, len(sj.groups), sj.slots, params.Slots())
	}
	return sj, perSegment, nil
}

// planOf returns the plan that bounds every slot of the job: values in
// the range seen, and at most as many of them as the job has readings or
// values, whichever is more, since count slots add up readings too.
func planOf(scale int64, segs [][]sensor.Reading) (he.Plan, error) {
	lo, hi := math.Inf(1), math.Inf(-1)
	var readings, values int64
	for _, rs := range segs {
		for i := range rs {
			readings++
			for _, f := range rs[i].Fields {
				if v, ok := f.Value.Number(); ok {
					lo, hi = min(lo, v), max(hi, v)
					values++
				}
			}
		}
	}
	if values == 0 {
		lo, hi = 0, 0
	}
	plan := he.Plan{Scale: scale, Min: lo, Max: hi, MaxValues: max(readings, values, 1)}
	if err := plan.Check(); err != nil {
		return plan, fmt.Errorf("%w: %w", job.ErrInvalid, err)
	}
	return plan, nil
}

// sums reduces one segment's readings to fixed-point sums by group. A
// value that the scale does not hold exactly is rejected, because the
// result would then differ from the plaintext aggregate.
func (sj *sealedJob) sums(rs []sensor.Reading) (segmentSums, error) {
	out := make(segmentSums)
	for i := range rs {
		r := &rs[i]
		key, source, start := job.GroupOf(r, sj.by)
		g := out[key]
		if g == nil {
			g = &groupSums{sensor: source, start: start, fields: make(map[string]*fieldSums)}
			out[key] = g
		}
		g.readings++
		for _, f := range r.Fields {
			v, ok := f.Value.Number()
			if !ok {
				continue
			}
			x, err := sj.plan.Fixed(v)
			if err != nil {
				return nil, fmt.Errorf("%w: field %q of sensor %s: %w", job.ErrInvalid, f.Name, r.Source, err)
			}
			if float64(x)/float64(sj.plan.Scale) != v {
				return nil, fmt.Errorf("%w: field %q of sensor %s is %v, which has more decimals than scale %d keeps; raise the scale",
					job.ErrInvalid, f.Name, r.Source, v, sj.plan.Scale)
			}
			fs := g.fields[f.Name]
			if fs == nil {
				fs = &fieldSums{}
				g.fields[f.Name] = fs
			}
			fs.sum += x
			fs.count++
		}
	}
	return out, nil
}

func (s segmentSums) merge(o segmentSums) {
	for k, og := range o {
		g := s[k]
		if g == nil {
			g = &groupSums{sensor: og.sensor, start: og.start, fields: make(map[string]*fieldSums)}
			s[k] = g
		}
		g.readings += og.readings
		for name, of := range og.fields {
			f := g.fields[name]
			if f == nil {
				f = &fieldSums{}
				g.fields[name] = f
			}
			f.sum += of.sum
			f.count += of.count
		}
	}
}

// slotsOf places sums in the job's slots. Every group and field of sums
// has slots, since the layout was made from the same segments.
func (sj *sealedJob) slotsOf(sums segmentSums) []int64 {
	slots := make([]int64, sj.slots)
	for _, g := range sj.groups {
		gs := sums[g.key]
		if gs == nil {
			continue
		}
		slots[g.count] = gs.readings
		for _, f := range g.fields {
			if fs := gs.fields[f.name]; fs != nil {
				slots[f.sum], slots[f.count] = fs.sum, fs.count
			}
		}
	}
	return slots
}

// defaultScale is the fixed-point scale of an encrypted job that names
// none: two decimals, as most sensors report.
const defaultScale = 100

// encryptedScale returns the scale a request names, or defaultScale
// for an encrypted job that names none.
func encryptedScale(req *api.JobRequest) int64 {
	if req.Encrypted && req.Scale == 0 {
		return defaultScale
	}
	return req.Scale
}
