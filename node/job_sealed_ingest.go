package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/yuinet/yui/job"
	"github.com/yuinet/yui/job/he"
	"github.com/yuinet/yui/search"
	"github.com/yuinet/yui/sensor"
	"github.com/yuinet/yui/storage/store"
)

// Numeric fields sealed at ingest. A namespace whose owner ran 'yui job
// seal' has a config record at sealConfigKey. For every segment written
// to it, the ingesting node also stores one ciphertext record at
// he/seg/SUFFIX, where SUFFIX is the segment key after "readings/", with
// the segment's reading count and per-field sums and value counts in its
// hour's block of its page (he.SegmentSlots). docs/jobs.md ("Sealed
// namespaces") describes the layout and what a worker sees.

// Keys and content types of the sealed-at-ingest records.
const (
	sealConfigKey                  = sealedPrefix + "config"
	sealedSegmentPrefix            = sealedPrefix + "seg/"
	sourceNamePrefix               = "sources/"
	sealConfigContentType          = "application/vnd.yui.bgv-seal-config"
	sealedSegmentContentType       = "application/vnd.yui.bgv-segment"
	sourceNameContentType          = "text/plain; charset=utf-8"
	defaultSealBound         int64 = 10_000
)

// sealConfigTTL is how long a node trusts what it read of a namespace's
// seal config, sealed or not. A namespace sealed meanwhile gets
// ciphertexts from this node at most this long after.
const sealConfigTTL = 30 * time.Second

// maxSealCache bounds the cached seal configs; past it the cache starts
// over.
const maxSealCache = 4096

// ingestSealer is the search writer's Sealer: it encrypts each segment's
// sums for a sealed namespace and adds nothing for the others.
type ingestSealer struct {
	n *Node

	mu      sync.Mutex
	configs map[string]sealEntry // by user and namespace

	// overlaps holds the reading digests of recent segments, so that
	// counting each reading once reads few stored segments.
	overlaps overlapCache
}

// sealEntry is a cached seal config; cfg is nil for a namespace that is
// not sealed.
type sealEntry struct {
	cfg  *he.SealConfig
	pk   *he.PublicKey
	read time.Time
}

func newIngestSealer(n *Node) *ingestSealer {
	return &ingestSealer{n: n, configs: make(map[string]sealEntry)}
}

// config returns namespace's seal config and the owner's public key as
// user reads them, or a nil config for a namespace that is not sealed.
// A user who may not read the config writes no ciphertexts; an
// encrypted job then rejects the segments that lack one.
func (s *ingestSealer) config(ctx context.Context, user, ns string) (*he.SealConfig, *he.PublicKey, error) {
	id := user + "\x00" + ns
	s.mu.Lock()
	e, ok := s.configs[id]
	s.mu.Unlock()
	if ok && time.Since(e.read) < sealConfigTTL {
		return e.cfg, e.pk, nil
	}
	cfg, pk, err := s.n.readSealConfig(ctx, user, ns)
	if errors.Is(err, store.ErrForbidden) {
		s.n.log.Warn("user may not read the namespace's seal config; its readings are stored without ciphertexts",
			"user", user, "namespace", ns, "err", err)
		cfg, pk, err = nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	s.mu.Lock()
	if len(s.configs) >= maxSealCache {
		clear(s.configs)
	}
	s.configs[id] = sealEntry{cfg: cfg, pk: pk, read: time.Now()}
	s.mu.Unlock()
	return cfg, pk, nil
}

// forget drops the cached config of namespace, after this node sealed it.
func (s *ingestSealer) forget(ns string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id := range s.configs {
		if _, after, _ := strings.Cut(id, "\x00"); after == ns {
			delete(s.configs, id)
		}
	}
}

// readSealConfig reads namespace's seal config and the public key it
// names, or returns a nil config when there is none.
func (n *Node) readSealConfig(ctx context.Context, user, ns string) (*he.SealConfig, *he.PublicKey, error) {
	cfg, err := n.readSealConfigOnly(ctx, user, ns)
	if err != nil || cfg == nil {
		return nil, nil, err
	}
	params, err := heParams()
	if err != nil {
		return nil, nil, err
	}
	var b bytes.Buffer
	keyName := sealedPrefix + "keys/" + cfg.Owner
	if _, err := n.storage.store.Get(ctx, user, ns, keyName, &b, store.GetOptions{}); err != nil {
		return nil, nil, fmt.Errorf("node: read BGV public key %q of sealed namespace %q: %w", keyName, ns, err)
	}
	pk, err := params.DecodePublicKey(b.Bytes())
	if err != nil {
		return nil, nil, fmt.Errorf("node: BGV public key %q of %q: %w", keyName, ns, err)
	}
	return cfg, pk, nil
}

// readSealConfigOnly reads namespace's seal config, or returns nil when
// there is none.
func (n *Node) readSealConfigOnly(ctx context.Context, user, ns string) (*he.SealConfig, error) {
	var b bytes.Buffer
	_, err := n.storage.store.Get(ctx, user, ns, sealConfigKey, &b, store.GetOptions{})
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("node: read seal config of %q: %w", ns, err)
	}
	cfg, err := he.DecodeSealConfig(b.Bytes(), sensor.MaxSegmentReadings)
	if err != nil {
		return nil, fmt.Errorf("node: seal config of %q: %w", ns, err)
	}
	return &cfg, nil
}

// Seal returns a ciphertext record per segment of a sealed namespace,
// and a name record per source. A reading that a stored segment of its
// sensor-hour with a lower key also holds counts in that segment's
// ciphertext, not in the new one's, and a stored segment with a higher
// key that shares readings with a new one gets its ciphertext record
// again, without them (see the "Readings written twice" comment).
// A value the scale does not hold exactly, or beyond the bound, fails
// the whole Write before anything is stored, with an error that names
// the sensor, field and value.
func (s *ingestSealer) Seal(ctx context.Context, user, ns string, segs []search.Segment) ([]search.Record, error) {
	cfg, pk, err := s.config(ctx, user, ns)
	if err != nil || cfg == nil {
		return nil, err
	}
	params, err := heParams()
	if err != nil {
		return nil, err
	}
	plan := he.Plan{Scale: cfg.Scale, Min: float64(-cfg.Bound), Max: float64(cfg.Bound), MaxValues: sensor.MaxSegmentReadings}
	enc, err := he.NewEncryptor(pk, plan)
	if err != nil {
		return nil, fmt.Errorf("node: seal config of %q: %w", ns, err)
	}
	sl := &segmentSealer{params: params, enc: enc, cfg: cfg, plan: plan}
	var stems []string
	hours := make(map[string][]search.Segment)
	for _, seg := range segs {
		if _, _, ok := search.ParseSegmentKey(seg.Key); !ok {
			return nil, fmt.Errorf("node: segment key %q has no source and hour", seg.Key)
		}
		stem := keyStem(seg.Key)
		if hours[stem] == nil {
			stems = append(stems, stem)
		}
		hours[stem] = append(hours[stem], seg)
	}
	stored, err := s.storedKeys(ctx, user, ns, segs)
	if errors.Is(err, store.ErrForbidden) {
		// NOTE: a user who may write but not read the namespace's segments
		// cannot see the others, so readings it writes twice count twice.
		s.n.log.Warn("user may not read the namespace's segments; readings written twice count twice in sealed jobs",
			"user", user, "namespace", ns, "err", err)
		stored = nil
	} else if err != nil {
		return nil, err
	}
	out := make([]search.Record, 0, len(segs))
	for _, stem := range stems {
		recs, err := s.sealHour(ctx, user, ns, sl, hours[stem], stored[stem])
		if err != nil {
			return nil, err
		}
		out = append(out, recs...)
	}
	return append(out, nameRecords(segs)...), nil
}

// segmentSealer encrypts segment sums under one sealed namespace's
// config and owner's public key.
type segmentSealer struct {
	params he.Params
	enc    *he.Encryptor
	cfg    *he.SealConfig
	plan   he.Plan
}

// seal encrypts the sums of rs, the distinct readings that seg's
// ciphertext counts, into seg's ciphertext record.
func (sl *segmentSealer) seal(seg search.Segment, rs []sensor.Reading) (search.Record, error) {
	suffix, ok := search.SegmentKeySuffix(seg.Key)
	_, source, okKey := search.ParseSegmentKey(seg.Key)
	if !ok || !okKey {
		return search.Record{}, fmt.Errorf("node: segment key %q has no source and hour", seg.Key)
	}
	fields, sums, err := fixedSums(rs, sl.plan)
	if err != nil {
		return search.Record{}, err
	}
	slots, err := sl.params.SegmentSlots(seg.Hour, sums)
	if err != nil {
		return search.Record{}, fmt.Errorf("%w: sensor %s: %w", sensor.ErrInvalid, seg.Source, err)
	}
	ct, err := sl.enc.EncryptSlots(slots)
	if err != nil {
		return search.Record{}, err
	}
	h := &he.SegmentHeader{Source: source, Hour: seg.Hour, Fields: fields, Scale: sl.cfg.Scale, Bound: sl.cfg.Bound}
	h.Page, _ = he.PageOf(seg.Hour, he.HoursPerPage(sl.params.Slots(), len(fields)), he.BlockWidth(len(fields)))
	data, err := he.EncodeSegmentRecord(h, ct)
	if err != nil {
		return search.Record{}, err
	}
	return search.Record{Key: sealedSegmentPrefix + suffix, ContentType: segmentContentTypeOf(fields), Data: data}, nil
}

// segmentContentTypeOf returns the content type of a ciphertext record of
// a segment with the given numeric fields. Its parameters name the field
// count and a hash of the names, so that a submitter can count a job's
// page sums from a listing, without reading any record.
func segmentContentTypeOf(fields []string) string {
	h := sha256.Sum256([]byte(strings.Join(fields, "\x00")))
	return fmt.Sprintf("%s; fields=%d; list=%s", sealedSegmentContentType, len(fields), hex.EncodeToString(h[:8]))
}

// parseSegmentContentType returns the field count and list hash of a
// content type written by segmentContentTypeOf, and false for any other.
func parseSegmentContentType(ct string) (fields int, list string, ok bool) {
	rest, ok := strings.CutPrefix(ct, sealedSegmentContentType+"; fields=")
	if !ok || len(rest) > 32 {
		return 0, "", false
	}
	count, list, ok := strings.Cut(rest, "; list=")
	n, err := strconv.Atoi(count)
	// Only the canonical form is accepted, so one field list has one
	// content type: no sign, no leading zero, lowercase hex.
	if !ok || err != nil || strconv.Itoa(n) != count || n < 0 || n > he.MaxHeaderFields || len(list) != 16 {
		return 0, "", false
	}
	if _, err := hex.DecodeString(list); err != nil || strings.ToLower(list) != list {
		return 0, "", false
	}
	return n, list, true
}

// fixedSums returns a segment's numeric field names, sorted, and per
// field the sum of its values in fixed point and how many readings have
// a number there. It rejects a value outside the plan's bound and one
// that the scale does not hold exactly, so that sealed sums equal the
// sums of the decimal values.
func fixedSums(rs []sensor.Reading, plan he.Plan) ([]string, he.SegmentSums, error) {
	index := make(map[string]int)
	var fields []string
	for i := range rs {
		for _, f := range rs[i].Fields {
			if _, ok := f.Value.Number(); ok {
				if _, seen := index[f.Name]; !seen {
					index[f.Name] = 0
					fields = append(fields, f.Name)
				}
			}
		}
	}
	slices.Sort(fields)
	for i, name := range fields {
		index[name] = i
	}
	sums := he.SegmentSums{Readings: int64(len(rs)), Sums: make([]int64, len(fields)), Counts: make([]int64, len(fields))}
	for i := range rs {
		r := &rs[i]
		for _, f := range r.Fields {
			v, ok := f.Value.Number()
			if !ok {
				continue
			}
			x, err := plan.Fixed(v)
			if err != nil {
				return nil, sums, fmt.Errorf("%w: field %q of sensor %s is %v, beyond the sealed namespace's bound %v; seal a new namespace with a larger --max",
					sensor.ErrInvalid, f.Name, r.Source, v, plan.Max)
			}
			if float64(x)/float64(plan.Scale) != v {
				return nil, sums, fmt.Errorf("%w: field %q of sensor %s is %v, which has more decimals than the sealed namespace's scale %d keeps; seal a new namespace with a larger --scale",
					sensor.ErrInvalid, f.Name, r.Source, v, plan.Scale)
			}
			j := index[f.Name]
			sums.Sums[j] += x
			sums.Counts[j]++
		}
	}
	return fields, sums, nil
}

// nameRecords returns a record at sources/SOURCEHASH with the source's
// name for each source of segs, so that the owner can name the sensors
// of a sealed job's result without reading a segment. Workers, granted
// he/ only, cannot read them. Each Write stores them again, as small
// records beside 256 KiB ciphertexts, so a retried Write names its
// sources too.
func nameRecords(segs []search.Segment) []search.Record {
	var out []search.Record
	seen := make(map[string]bool)
	for _, seg := range segs {
		if seen[seg.Source] {
			continue
		}
		seen[seg.Source] = true
		out = append(out, search.Record{Key: sourceNamePrefix + search.SourceHash(seg.Source), ContentType: sourceNameContentType,
			Data: []byte(seg.Source)})
	}
	return out
}

// ErrSealChange reports a request to seal a namespace again with another
// scale or bound, which would make its ciphertexts disagree.
var ErrSealChange = errors.New("node: namespace is sealed already with other settings")

// SealNamespace sets namespace up so that every later Write to it also
// stores ciphertexts of its numeric fields under user's BGV public key,
// creating and publishing that key if needed. Sealing again with the
// same scale and bound does nothing; another scale or bound fails with
// ErrSealChange, because ciphertexts of different scales cannot be added.
func (n *Node) SealNamespace(ctx context.Context, user, ns string, scale, bound int64) (he.SealConfig, error) {
	if user == "" {
		user = store.DefaultUser
	}
	cfg := he.SealConfig{Owner: user, Scale: scale, Bound: bound}
	if err := cfg.Check(sensor.MaxSegmentReadings); err != nil {
		return cfg, fmt.Errorf("%w: %w", job.ErrInvalid, err)
	}
	// A writer who is not an owner could otherwise seal the namespace
	// for good, with its own key and bound, locking the owner out.
	if err := n.storage.store.CheckOwner(ctx, user, ns, "seal it"); err != nil {
		return cfg, err
	}
	old, err := n.readSealConfigOnly(ctx, user, ns)
	if err != nil {
		return cfg, err
	}
	if old != nil && *old != cfg {
		return *old, fmt.Errorf("%w: %q is sealed by %s with scale %d and max %d; its stored ciphertexts use those, so seal another namespace for other values",
			ErrSealChange, ns, old.Owner, old.Scale, old.Bound)
	}
	if _, err := n.ownerKey(ctx, user, ns); err != nil {
		return cfg, err
	}
	if old == nil {
		b, err := cfg.MarshalBinary()
		if err != nil {
			return cfg, err
		}
		opts := store.PutOptions{ContentType: sealConfigContentType, Size: int64(len(b))}
		if _, err := n.storage.store.Put(ctx, user, ns, sealConfigKey, bytes.NewReader(b), opts); err != nil {
			return cfg, fmt.Errorf("node: store seal config of %q: %w", ns, err)
		}
		// Two seals at once both write, and the newer version wins, so
		// the one that lost says so rather than report settings that do
		// not hold.
		// NOTE: a seal whose write lands after this read still wins; the
		// store has no conditional write to rule that out.
		now, err := n.readSealConfigOnly(ctx, user, ns)
		if err != nil {
			return cfg, err
		}
		if now != nil && *now != cfg {
			return *now, fmt.Errorf("%w: %q was sealed at the same time by %s with scale %d and max %d, which holds",
				ErrSealChange, ns, now.Owner, now.Scale, now.Bound)
		}
		n.log.Info("sealed namespace: ingest stores ciphertexts of numeric fields", "namespace", ns, "owner", user,
			"scale", scale, "max", bound)
	}
	if n.search != nil && n.search.sealer != nil {
		n.search.sealer.forget(ns)
	}
	return cfg, nil
}

// deleteRecord deletes a record through gw, and with a segment of
// readings the ciphertext record that a sealed namespace stores beside it
// at ingest (he/seg/SUFFIX), 262 KB that would otherwise stay behind. The
// segment goes first: a failure then leaves a ciphertext without its
// segment, which the error names, and never a segment without its
// ciphertext, which would fail every sealed job that selects it.
//
// The sensor's name record (sources/HASH) stays. Other segments of the
// sensor, at any hour, still need it, and since segment keys start with
// the hour, finding them would take a listing of the whole namespace.
// It holds only the name.
func deleteRecord(ctx context.Context, gw store.Gateway, user, namespace, key string) error {
	if err := gw.Delete(ctx, user, namespace, key); err != nil {
		return err
	}
	suffix, ok := search.SegmentKeySuffix(key)
	if !ok {
		return nil
	}
	sealed := sealedSegmentPrefix + suffix
	if err := gw.Delete(ctx, user, namespace, sealed); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("node: segment %q deleted, but not its ciphertext record; delete it with 'yui rm %s %s': %w",
			key, namespace, sealed, err)
	}
	return nil
}
