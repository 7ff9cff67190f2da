package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/yuinet/yui/job/sched"
	"github.com/yuinet/yui/network/wire"
)

// A job's unit list travels once to each of its manager and backup, in
// parts of jobUnitPartBytes, before the JobState that starts them. The
// JobStates that follow carry only the scheduler's state and the list's
// digest. A node keeps a list, whole or in parts, until a JobState takes
// it or jobUnitListTTL after its last part. It keeps at most
// jobUnitListBudget bytes of such lists, so that a peer cannot fill its
// memory with lists of jobs that never start.
const (
	jobUnitListTTL    = 2 * time.Minute
	jobUnitListBudget = 2 * wire.MaxJobUnitList
)

// jobUnitPartBytes is the size of a unit list's parts; tests lower it.
var jobUnitPartBytes = wire.MaxJobUnitsPart

// errUnitsMissing reports that a peer lacks the unit list of a job
// state, which the sender then sends.
var errUnitsMissing = errors.New("node: peer lacks the job's unit list")

// ErrUnitList reports a unit list part that does not fit the parts
// received before it, a list whose bytes do not match its digest or do
// not decode, or one that would exceed the node's budget.
var ErrUnitList = errors.New("node: job unit list rejected")

// unitList is a job's encoded unit list, its digest and its units.
type unitList struct {
	digest [sha256.Size]byte
	bytes  []byte
	units  []sched.Unit
}

func newUnitList(units []sched.Unit) (*unitList, error) {
	b, err := sched.EncodeUnitList(units)
	if err != nil {
		return nil, err
	}
	return &unitList{digest: sha256.Sum256(b), bytes: b, units: units}, nil
}

// digestName returns the start of a digest in hex, for messages.
func digestName(d []byte) string {
	return hex.EncodeToString(d[:min(len(d), 8)])
}

type unitListKey struct {
	job    string
	digest [sha256.Size]byte
}

// unitAssembly is a unit list being received, or received whole and
// waiting for its JobState.
type unitAssembly struct {
	parts    [][]byte
	received int
	size     int
	last     time.Time
	list     *unitList
}

// unitLists holds the unit lists this node receives until their jobs
// start. It is driven by the caller's clock.
type unitLists struct {
	budget int

	mu sync.Mutex
	// lists by job and digest. reserved counts the bytes reserved for
	// them, each list's whole size from its first part.
	lists    map[unitListKey]*unitAssembly
	reserved int
}

func newUnitLists(budget int) *unitLists {
	return &unitLists{budget: budget, lists: make(map[unitListKey]*unitAssembly)}
}

// add stores one part. It returns the whole list once the last part
// arrived and its digest matched. A list that fails that check is
// dropped, so the sender must send every part again.
func (l *unitLists) add(now time.Time, m *wire.JobUnits) (*unitList, error) {
	key := unitListKey{job: m.JobID, digest: [sha256.Size]byte(m.Digest)}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.expireLocked(now)

	a := l.lists[key]
	if a == nil {
		if l.reserved+int(m.Size) > l.budget {
			return nil, fmt.Errorf("%w: job %s: unit list %s of %d bytes exceeds this node's budget of %d bytes held for jobs that have not started; retry later",
				ErrUnitList, m.JobID, digestName(m.Digest), m.Size, l.budget)
		}
		a = &unitAssembly{parts: make([][]byte, m.Parts), size: int(m.Size)}
		l.lists[key] = a
		l.reserved += a.size
	}
	a.last = now
	if a.list != nil {
		return a.list, nil
	}

	if err := a.check(m); err != nil {
		return nil, fmt.Errorf("%w: job %s: unit list %s: %v", ErrUnitList, m.JobID, digestName(m.Digest), err)
	}
	if a.parts[m.Part] == nil {
		a.parts[m.Part] = bytes.Clone(m.Bytes)
		a.received++
	}
	if a.received < len(a.parts) {
		return nil, nil
	}

	list, err := a.join(key.digest)
	if err != nil {
		l.dropLocked(key)
		return nil, fmt.Errorf("%w: job %s: unit list %s: %v; send it again", ErrUnitList, m.JobID, digestName(m.Digest), err)
	}
	a.list, a.parts = list, nil
	return list, nil
}

// check compares a part with the list's parts received before it.
func (a *unitAssembly) check(m *wire.JobUnits) error {
	if int(m.Size) != a.size || int(m.Parts) != len(a.parts) {
		return fmt.Errorf("part %d names %d bytes in %d parts, earlier parts %d bytes in %d", m.Part, m.Size, m.Parts, a.size, len(a.parts))
	}
	// The sender cuts the list as partSizes does.
	per := (a.size + len(a.parts) - 1) / len(a.parts)
	want := per
	if int(m.Part) == len(a.parts)-1 {
		want = a.size - per*(len(a.parts)-1)
	}
	if len(m.Bytes) != want {
		return fmt.Errorf("part %d of %d is %d bytes, want %d", m.Part, len(a.parts), len(m.Bytes), want)
	}
	if old := a.parts[m.Part]; old != nil && !bytes.Equal(old, m.Bytes) {
		return fmt.Errorf("part %d arrived twice with different bytes", m.Part)
	}
	return nil
}

// join checks the whole list's digest and decodes it.
func (a *unitAssembly) join(digest [sha256.Size]byte) (*unitList, error) {
	b := bytes.Join(a.parts, nil)
	if got := sha256.Sum256(b); got != digest {
		return nil, fmt.Errorf("its %d bytes have the digest %s", len(b), digestName(got[:]))
	}
	units, err := sched.DecodeUnitList(b)
	if err != nil {
		return nil, err
	}
	return &unitList{digest: digest, bytes: b, units: units}, nil
}

// take removes and returns the whole list of a job with the digest
// given, or nil when this node has not received it all.
func (l *unitLists) take(job string, digest []byte) *unitList {
	if len(digest) != sha256.Size {
		return nil
	}
	key := unitListKey{job: job, digest: [sha256.Size]byte(digest)}
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.lists[key]
	if a == nil || a.list == nil {
		return nil
	}
	l.dropLocked(key)
	return a.list
}

// expire drops the lists that received no part for jobUnitListTTL.
func (l *unitLists) expire(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.expireLocked(now)
}

func (l *unitLists) expireLocked(now time.Time) {
	for key, a := range l.lists {
		if now.Sub(a.last) >= jobUnitListTTL {
			l.dropLocked(key)
		}
	}
}

func (l *unitLists) dropLocked(key unitListKey) {
	if a := l.lists[key]; a != nil {
		l.reserved -= a.size
		delete(l.lists, key)
	}
}

// bytesHeld returns the bytes reserved for lists not yet taken.
func (l *unitLists) bytesHeld() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reserved
}

// handleUnits stores a part of a job's unit list.
func (s *jobService) handleUnits(m *wire.JobUnits) wire.Message {
	s.mu.Lock()
	mj := s.managed[m.JobID]
	s.mu.Unlock()
	if mj != nil && mj.holdsUnitList(m.Digest) {
		return &wire.JobAck{Epoch: mj.currentEpoch()}
	}
	if _, err := s.unitLists.add(time.Now(), m); err != nil {
		return &wire.Error{Code: wire.CodeBadRequest, Message: err.Error()}
	}
	return &wire.JobAck{}
}

// sendUnitList sends a job's unit list to a peer, part by part.
func (s *jobService) sendUnitList(ctx context.Context, to wire.Contact, job string, list *unitList) error {
	parts, per := partSizes(len(list.bytes), jobUnitPartBytes)
	for i := range parts {
		part := list.bytes[i*per : min((i+1)*per, len(list.bytes))]
		msg := &wire.JobUnits{JobID: job, Digest: list.digest[:], Part: uint32(i), Parts: uint32(parts),
			Size: uint64(len(list.bytes)), Bytes: part}
		pctx, cancel := context.WithTimeout(ctx, jobSendTimeout)
		_, err := s.request(pctx, to, msg)
		cancel()
		if err != nil {
			return fmt.Errorf("node: send part %d of %d of job %s's unit list to %s: %w", i+1, parts, job, to.ID.Short(), err)
		}
	}
	return nil
}

// partSizes cuts size bytes into parts of at most limit bytes each, all
// but the last of equal size, so that the receiver can check each part's
// size from the list's size and part count alone.
func partSizes(size, limit int) (parts, per int) {
	parts = (size + limit - 1) / limit
	return parts, (size + parts - 1) / parts
}

// sendState sends a job state to a peer, and the job's unit list first
// when the peer does not hold it.
func (s *jobService) sendState(ctx context.Context, to wire.Contact, msg *wire.JobState, list *unitList) (wire.Message, error) {
	sctx, cancel := context.WithTimeout(ctx, jobSendTimeout)
	resp, err := s.request(sctx, to, msg)
	cancel()
	if !errors.Is(err, errUnitsMissing) {
		return resp, err
	}
	s.n.log.Info("sending job unit list", "job", msg.JobID, "peer", to.ID.Short(), "digest", digestName(list.digest[:]),
		"bytes", len(list.bytes))
	if err := s.sendUnitList(ctx, to, msg.JobID, list); err != nil {
		return nil, err
	}
	sctx, cancel = context.WithTimeout(ctx, jobSendTimeout)
	defer cancel()
	return s.request(sctx, to, msg)
}
