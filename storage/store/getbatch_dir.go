package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/seal"
)

// batchAnswer is one directory holder's response to a GetRecords.
type batchAnswer struct {
	c wire.Contact
	// asked is set once the request was started, and answered once the
	// holder responded with a list or with CodeNotFound.
	asked, answered bool
	found           map[seal.Hash]dirAnswer // versions that verify
	// packed holds the compact entries the holder returned until
	// resolvePacked moves those that verify into found.
	packed map[seal.Hash]wire.PackedEntry
	// notFound lists the records the holder has no version of. A record
	// in neither map was left out of the response or did not verify.
	notFound map[seal.Hash]bool
	// unreadable maps each packed entry whose version segment could not be
	// read to the read error. Such a record exists but is out of reach.
	unreadable map[seal.Hash]error
}

// versionOf is a verified version and, for a packed one, where it lies,
// so that repairs store it packed again.
type versionOf struct {
	rec *wire.Record
	ref *wire.PackedRef
}

// lacks reports whether the holder responded that it has no version of
// k, or one older than best.
func (a *batchAnswer) lacks(k seal.Hash, best *seal.Envelope) bool {
	if !a.answered {
		return false
	}
	if held, ok := a.found[k]; ok {
		return supersedes(best, held.env)
	}
	return a.notFound[k]
}

// newestVersions returns the newest version that verifies of each record,
// as newestVersion does for one. Records of one directory shard are read
// with one GetRecords per holder for up to wire.MaxRecordBatch of them.
// Without fallback, only the first firstReaders holders are asked, as a
// write does to learn the creation time of the version it replaces.
func (s *Store) newestVersions(ctx context.Context, d *Descriptor, hashes []seal.Hash, fallback bool) map[seal.Hash]batchVersion {
	var groups [][]seal.Hash
	byDir := make(map[uint32][]seal.Hash)
	seen := make(map[seal.Hash]bool, len(hashes))
	for _, k := range hashes {
		if !seen[k] {
			seen[k] = true
			dir := DirectoryOf(k, d.Params().DirBits)
			byDir[dir] = append(byDir[dir], k)
		}
	}
	for _, ks := range byDir {
		for len(ks) > 0 {
			n := min(len(ks), wire.MaxRecordBatch)
			groups = append(groups, ks[:n])
			ks = ks[n:]
		}
	}

	out := make(map[seal.Hash]batchVersion, len(seen))
	segments := s.storeSegments(d)
	var mu sync.Mutex
	slots := make(chan struct{}, s.cfg.Parallelism)
	var wg sync.WaitGroup
	for _, group := range groups {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			found := s.newestOfGroup(ctx, d, group, segments, fallback)
			mu.Lock()
			defer mu.Unlock()
			for k, bv := range found {
				out[k] = bv
			}
		})
	}
	wg.Wait()
	return out
}

// newestOfGroup reads records of one directory shard from its holders:
// the first firstReaders of them, then the rest for the records none of
// those had.
func (s *Store) newestOfGroup(ctx context.Context, d *Descriptor, group []seal.Hash, segments *segmentCache, fallback bool) map[seal.Hash]batchVersion {
	out := make(map[seal.Hash]batchVersion, len(group))
	dir := DirectoryOf(group[0], d.Params().DirBits)
	cands, err := s.closest(ctx, DirectoryID(d.Namespace(), dir), int(d.Params().Replicas))
	if err != nil {
		for _, k := range group {
			out[k] = batchVersion{err: err}
		}
		return out
	}

	answers := s.askRecords(ctx, d, group, cands, firstReaders)
	s.resolvePacked(ctx, segments, answers)
	if missing := unfound(group, answers); fallback && len(missing) > 0 {
		rest := unanswered(cands, answers)
		more := s.askRecords(ctx, d, missing, rest, len(rest))
		s.resolvePacked(ctx, segments, more)
		answers = append(slices.DeleteFunc(answers, func(a batchAnswer) bool { return !a.answered }), more...)
	}

	repairs := make(map[int][]versionOf)
	for _, k := range group {
		best := newestBatchAnswer(answers, k)
		if best == nil {
			out[k] = batchVersion{err: missingError(d, k, answers)}
			continue
		}
		s.clock.observe(best.env.Record.Version)
		for i := range answers {
			if answers[i].lacks(k, best.env) {
				repairs[i] = append(repairs[i], versionOf{best.rec, best.ref})
			}
		}
		if best.env.Tombstone {
			out[k] = batchVersion{err: fmt.Errorf("%w: record %s of %q", ErrDeleted, k, d.Namespace())}
			continue
		}
		out[k] = batchVersion{rec: best.rec, env: best.env}
	}
	s.repairRecords(ctx, d, dir, answers, repairs)
	return out
}

// missingError explains why no holder returned a version of k. The record
// is missing only when every candidate responded and none listed it. Right
// after many nodes fail, the closest nodes are new and empty, so a holder
// that did not respond may be the only one left with the record.
func missingError(d *Descriptor, k seal.Hash, answers []batchAnswer) error {
	lacking, silent := 0, 0
	for i := range answers {
		a := &answers[i]
		if err := a.unreadable[k]; err != nil {
			return fmt.Errorf("%w: directory holder %s lists record %s of %q in a version segment that could not be read: %w",
				ErrUnavailable, a.c.ID.Short(), k, d.Namespace(), err)
		}
		switch {
		case a.notFound[k]:
			lacking++
		case !a.answered:
			silent++
		}
	}
	if lacking > 0 && silent == 0 {
		return fmt.Errorf("%w: record %s of %q", ErrNotFound, k, d.Namespace())
	}
	return fmt.Errorf("%w: %d of %d directory holders of %q have no version of record %s and %d did not respond; try again once the network has settled",
		ErrUnavailable, lacking, len(answers), d.Namespace(), k, silent)
}

// askRecords requests the records from cands in order until want of them
// have responded. The requests are hedged: a holder that is slower than
// the hedge delay or fails is replaced by the next candidate. Once one
// holder has returned records, the others get a grace period. It returns an answer for every
// candidate, asked or not.
func (s *Store) askRecords(ctx context.Context, d *Descriptor, group []seal.Hash, cands []wire.Contact, want int) []batchAnswer {
	answers := make([]batchAnswer, len(cands))
	msg := &wire.GetRecords{Namespace: d.Namespace(), KeyHashes: make([]wire.Hash, len(group))}
	for i, k := range group {
		msg.KeyHashes[i] = wire.Hash(k)
	}
	delay := s.rtt.hedgeDelay(msg.Type())
	timeout := s.rtt.attemptTimeout(msg.Type(), s.cfg.RequestTimeout)
	g := newGrace(delay)
	f := fanout{n: len(cands), want: min(want, len(cands)), delay: delay, timeout: timeout, done: g.over}
	hedge(ctx, f, func(ctx context.Context, i int) bool {
		a := &answers[i]
		a.c, a.asked = cands[i], true
		resp, err := s.request(ctx, a.c, msg)
		if errorCode(err) == wire.CodeNotFound {
			// The holder lacks the namespace, so it lacks every record.
			a.answered, a.notFound = true, setOf(group)
			return true
		}
		list, ok := resp.(*wire.RecordList)
		if err != nil || !ok {
			return false
		}
		a.answered = true
		s.takeList(d, a, list, group)
		if len(a.found)+len(a.packed) > 0 {
			g.good()
		}
		return true
	})
	for i := range answers {
		answers[i].c = cands[i]
	}
	return answers
}

// takeList keeps the versions of a holder's list that verify and belong
// to the group requested.
func (s *Store) takeList(d *Descriptor, a *batchAnswer, list *wire.RecordList, group []seal.Hash) {
	wanted := setOf(group)
	a.found = make(map[seal.Hash]dirAnswer, len(list.Records))
	a.notFound = make(map[seal.Hash]bool, len(list.NotFound))
	for _, k := range list.NotFound {
		a.notFound[seal.Hash(k)] = true
	}
	a.packed = make(map[seal.Hash]wire.PackedEntry, len(list.Packed))
	for _, e := range list.Packed {
		if wanted[seal.Hash(e.KeyHash)] {
			a.packed[seal.Hash(e.KeyHash)] = e
		}
	}
	for i := range list.Records {
		rec := &list.Records[i]
		env, err := checkRecord(d, rec)
		if err != nil || !wanted[env.Record.KeyHash] {
			s.log.Warn("directory holder served a record that does not verify or was not requested",
				"peer", a.c.ID.Short(), "err", err)
			continue
		}
		a.found[env.Record.KeyHash] = dirAnswer{c: a.c, asked: true, answered: true, rec: rec, env: env}
	}
}

// resolvePacked opens the version each packed entry points at, from its
// version segment, and moves the entries that verify into found. An entry
// that does not verify is dropped and logged.
func (s *Store) resolvePacked(ctx context.Context, segments *segmentCache, answers []batchAnswer) {
	for i := range answers {
		a := &answers[i]
		for k, e := range a.packed {
			rec, env, err := segments.open(ctx, &e)
			if err != nil {
				s.log.Warn("packed record entry does not verify", "peer", a.c.ID.Short(), "segment", fmt.Sprintf("%x", e.Ref.Segment[:8]), "err", err)
				if !errors.Is(err, ErrCorrupt) {
					if a.unreadable == nil {
						a.unreadable = make(map[seal.Hash]error)
					}
					a.unreadable[k] = err
				}
				continue
			}
			ref := e.Ref
			a.found[k] = dirAnswer{c: a.c, asked: true, answered: true, rec: rec, env: env, ref: &ref}
		}
		a.packed = nil
	}
}

func setOf(hashes []seal.Hash) map[seal.Hash]bool {
	set := make(map[seal.Hash]bool, len(hashes))
	for _, k := range hashes {
		set[k] = true
	}
	return set
}

// unfound returns the records of group that no response holds a version
// of.
func unfound(group []seal.Hash, answers []batchAnswer) []seal.Hash {
	var out []seal.Hash
	for _, k := range group {
		if newestBatchAnswer(answers, k) == nil {
			out = append(out, k)
		}
	}
	return out
}

// unanswered returns the candidates that have not responded: those not
// asked, and those whose request failed or was cancelled once enough
// others had responded.
func unanswered(cands []wire.Contact, answers []batchAnswer) []wire.Contact {
	var rest []wire.Contact
	for i, c := range cands {
		if !answers[i].answered {
			rest = append(rest, c)
		}
	}
	return rest
}

func newestBatchAnswer(answers []batchAnswer, k seal.Hash) *dirAnswer {
	var best *dirAnswer
	for i := range answers {
		a, ok := answers[i].found[k]
		if !ok {
			continue
		}
		if best == nil || supersedes(a.env, best.env) {
			best = &a
		}
	}
	return best
}

// repairRecords stores on each holder asked the newest versions it
// responded without, with one PutRecords per holder and batch, packed
// versions packed again. Holders that did not respond are left to repair
// passes. Failures are logged, since the read succeeded.
func (s *Store) repairRecords(ctx context.Context, d *Descriptor, dir uint32, answers []batchAnswer, repairs map[int][]versionOf) {
	var wg sync.WaitGroup
	for i, versions := range repairs {
		wg.Go(func() {
			for _, msg := range putMessages(d.Namespace(), dir, versions) {
				if err := s.putRecordsTo(ctx, answers[i].c, d, msg); err != nil {
					s.log.Debug("record read repair failed", "peer", answers[i].c.ID.Short(), "err", err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// putMessages returns the PutRecords that store versions: the full ones
// and the packed ones apart, each cut to fit a message.
func putMessages(ns string, dir uint32, versions []versionOf) []*wire.PutRecords {
	var full, packed []wire.Record
	var refs []wire.PackedRef
	for _, v := range versions {
		if v.ref == nil {
			full = append(full, *v.rec)
			continue
		}
		packed = append(packed, *v.rec)
		refs = append(refs, *v.ref)
	}
	var msgs []*wire.PutRecords
	for _, part := range splitRecords(full) {
		msgs = append(msgs, &wire.PutRecords{Namespace: ns, Dir: dir, Records: part})
	}
	start := 0
	for _, part := range splitRecords(packed) {
		msgs = append(msgs, &wire.PutRecords{Namespace: ns, Dir: dir, Records: part, Packed: refs[start : start+len(part)]})
		start += len(part)
	}
	return msgs
}

// splitRecords cuts recs into parts of at most wire.MaxRecordBatch
// records that fit one message.
func splitRecords(recs []wire.Record) [][]wire.Record {
	var parts [][]wire.Record
	start, used := 0, 0
	for i := range recs {
		size := recordSize(&recs[i])
		if i > start && (i-start == wire.MaxRecordBatch || used+size > pageBudget) {
			parts = append(parts, recs[start:i])
			start, used = i, 0
		}
		used += size
	}
	if start < len(recs) {
		parts = append(parts, recs[start:])
	}
	return parts
}

// putRecordsTo sends a PutRecords. A holder that lacks the namespace's
// descriptor, or holds an older one that does not name the writer, gets
// the descriptor and the records again.
func (s *Store) putRecordsTo(ctx context.Context, c wire.Contact, d *Descriptor, msg *wire.PutRecords) error {
	_, err := s.request(ctx, c, msg)
	if code := errorCode(err); code == wire.CodeNotFound || code == wire.CodeForbidden {
		if _, perr := s.request(ctx, c, &wire.PutNamespace{Namespace: d.Namespace(), Descriptor: d.Bytes()}); perr == nil {
			_, err = s.request(ctx, c, msg)
		}
	}
	return err
}
