package search

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/transport"
	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/store"
)

// maxTokenEntries bounds the entries one lookup reads from one holder,
// so that a holder that keeps sending pages cannot exhaust the querier's
// memory. A segment per sensor-hour gives 8,760 entries a year under a
// sensor's token, far below it.
const maxTokenEntries = 1 << 20

// spareHolders is how many candidates beyond the replicas a placement
// requests from the overlay, to replace holders that fail or reject it.
const spareHolders = 4

// IndexID returns the overlay key of the partition that holds a token's
// postings: SHA-256("yui/index/" + ns + "/" + p), with p the token's
// first byte in decimal. Tokens are uniform, so a namespace's postings
// spread evenly over 256 partitions. Partitions instead of one key per
// token keep the overlay lookups of a write or query to at most 256.
func IndexID(ns string, token wire.Hash) identity.NodeID {
	return partitionID(ns, token[0])
}

func partitionID(ns string, p byte) identity.NodeID {
	return identity.KeyID([]byte("yui/index/" + ns + "/" + strconv.Itoa(int(p))))
}

// postings stores and reads posting lists on index holders.
type postings struct {
	net      store.Network
	local    *Index // nil on a node that holds no index
	replicas int
	timeout  time.Duration
	log      *slog.Logger
}

// copies returns how many holders of a partition an add or lookup uses:
// the configured replicas, or every candidate in a smaller network.
func (p *postings) copies(cands []wire.Contact) int { return min(p.replicas, len(cands)) }

// writeQuorum is how many of n holders must store a posting for an add
// to succeed, and readQuorum how many must respond to a lookup. While the
// holders stay the same, a lookup then reaches at least one holder of
// every posting added. When they change, the Repairer of each holder
// sends the postings to the partition's new holders.
//
// NOTE: between two repair passes, a lookup can still miss a posting if
// more of its partition's closest nodes changed than the quorums allow,
// such as two of three replaced at once.
func writeQuorum(n int) int { return n/2 + 1 }
func readQuorum(n int) int  { return n - writeQuorum(n) + 1 }

// candidates returns the nodes closest to a partition, closest first,
// this node included when it holds an index.
func (p *postings) candidates(ctx context.Context, target identity.NodeID) ([]wire.Contact, error) {
	cs, err := p.net.Closest(ctx, target, p.replicas+spareHolders)
	if err != nil {
		return nil, fmt.Errorf("%w: lookup %s: %w", ErrUnavailable, target.Short(), err)
	}
	if p.local != nil && p.local.holds() {
		cs = append(cs, p.net.Self())
	}
	slices.SortFunc(cs, func(a, b wire.Contact) int {
		return identity.Compare(identity.Xor(target, a.ID), identity.Xor(target, b.ID))
	})
	return slices.CompactFunc(cs, func(a, b wire.Contact) bool { return a.ID == b.ID }), nil
}

// request sends msg to a holder, or hands it to the local index when the
// holder is this node, and turns an error response into an error.
func (p *postings) request(ctx context.Context, to wire.Contact, msg wire.Message) (wire.Message, error) {
	var resp wire.Message
	self := p.net.Self()
	if to.ID == self.ID && p.local != nil {
		resp = p.local.HandleMessage(ctx, transport.Peer{ID: self.ID, Addr: self.Addr}, msg)
	} else {
		ctx, cancel := context.WithTimeout(ctx, p.timeout)
		defer cancel()
		var err error
		if resp, err = p.net.Request(ctx, to, msg); err != nil {
			return nil, fmt.Errorf("%v to %s: %w", msg.Type(), to.ID.Short(), err)
		}
	}
	if e, ok := resp.(*wire.Error); ok {
		return nil, fmt.Errorf("%v to %s: code %d: %s", msg.Type(), to.ID.Short(), e.Code, e.Message)
	}
	if resp == nil {
		return nil, fmt.Errorf("%v to %s: no response", msg.Type(), to.ID.Short())
	}
	return resp, nil
}

// onHolders runs fn on the first want candidates in parallel, and on the
// next ones in place of those that fail, until want succeed or the
// candidates run out. It returns how many succeeded and the last error.
func onHolders(cands []wire.Contact, want int, fn func(wire.Contact) error) (int, error) {
	done := 0
	var lastErr error
	for len(cands) > 0 && done < want {
		wave := cands[:min(want-done, len(cands))]
		cands = cands[len(wave):]
		errs := make([]error, len(wave))
		var wg sync.WaitGroup
		for i, c := range wave {
			wg.Go(func() { errs[i] = fn(c) })
		}
		wg.Wait()
		for _, err := range errs {
			if err == nil {
				done++
			} else {
				lastErr = err
			}
		}
	}
	return done, lastErr
}

// add stores postings on the holders of their partitions.
func (p *postings) add(ctx context.Context, ns string, posts []wire.IndexPosting) error {
	parts := make(map[byte][]wire.IndexPosting)
	for _, post := range posts {
		parts[post.Token[0]] = append(parts[post.Token[0]], post)
	}
	errs := make(chan error, len(parts))
	slots := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for part, list := range parts {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			errs <- p.addPartition(ctx, ns, part, list)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func (p *postings) addPartition(ctx context.Context, ns string, part byte, posts []wire.IndexPosting) error {
	cands, err := p.candidates(ctx, partitionID(ns, part))
	if err != nil {
		return err
	}
	want := p.copies(cands)
	stored, err := onHolders(cands, want, func(c wire.Contact) error {
		for batch := range slices.Chunk(posts, wire.MaxIndexPostings) {
			if _, err := p.request(ctx, c, &wire.IndexAdd{Namespace: ns, Postings: batch}); err != nil {
				return err
			}
		}
		return nil
	})
	if want == 0 || stored < writeQuorum(want) {
		return fmt.Errorf("%w: %d of %d holders of index partition %d of %q stored its postings: %v",
			ErrUnavailable, stored, want, part, ns, err)
	}
	if stored < want {
		p.log.Warn("postings stored on fewer holders than wanted", "namespace", ns, "partition", part,
			"stored", stored, "want", want, "err", err)
	}
	return nil
}

// lookup returns the sealed entries of a token, the union over a read
// quorum of its holders. It asks only as many holders as the quorum
// needs, and the next candidates in place of those that fail.
func (p *postings) lookup(ctx context.Context, ns string, token wire.Hash) ([][]byte, error) {
	cands, err := p.candidates(ctx, IndexID(ns, token))
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	seen := make(map[string]bool)
	var entries [][]byte
	want := p.copies(cands)
	responded, err := onHolders(cands, readQuorum(want), func(c wire.Contact) error {
		got, err := p.lookupAt(ctx, c, ns, token)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		for _, e := range got {
			if !seen[string(e)] {
				seen[string(e)] = true
				entries = append(entries, e)
			}
		}
		return nil
	})
	if want == 0 || responded < readQuorum(want) {
		return nil, fmt.Errorf("%w: %d of %d holders of index partition %d of %q responded: %v",
			ErrUnavailable, responded, want, token[0], ns, err)
	}
	return entries, nil
}

// lookupAt reads every page of a token's entries from one holder.
func (p *postings) lookupAt(ctx context.Context, c wire.Contact, ns string, token wire.Hash) ([][]byte, error) {
	var entries [][]byte
	msg := &wire.IndexLookup{Namespace: ns, Token: token}
	for {
		resp, err := p.request(ctx, c, msg)
		if err != nil {
			return nil, err
		}
		page, ok := resp.(*wire.IndexEntries)
		if !ok {
			return nil, fmt.Errorf("index-lookup to %s: unexpected %v", c.ID.Short(), resp.Type())
		}
		entries = append(entries, page.Entries...)
		if len(page.Next) == 0 {
			return entries, nil
		}
		if len(entries) >= maxTokenEntries {
			return nil, fmt.Errorf("index-lookup to %s: more than %d entries under one token", c.ID.Short(), maxTokenEntries)
		}
		msg = &wire.IndexLookup{Namespace: ns, Token: token, After: page.Next}
	}
}
