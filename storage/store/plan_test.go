package store

import (
	"slices"
	"testing"
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/erasure"
)

func contacts(n int) []wire.Contact {
	out := make([]wire.Contact, n)
	for i := range out {
		out[i].ID = identity.NodeID{byte(i + 1)}
	}
	return out
}

func TestPlanDirectory(t *testing.T) {
	cs := contacts(5)
	tests := []struct {
		name     string
		self     identity.NodeID
		keep     bool
		numPeers int
	}{
		{"self among the closest", cs[1].ID, true, 2},
		{"self just outside", cs[3].ID, false, 3},
		{"self absent", identity.NodeID{99}, false, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := planDirectory(tt.self, cs, 3)
			if p.Keep != tt.keep || len(p.Peers) != tt.numPeers {
				t.Fatalf("plan = keep %v with %d peers, want keep %v with %d", p.Keep, len(p.Peers), tt.keep, tt.numPeers)
			}
			for _, c := range p.Peers {
				if c.ID == tt.self {
					t.Error("plan lists self as a peer")
				}
			}
		})
	}
}

func TestDiffDigests(t *testing.T) {
	w1, w2 := []byte{1}, []byte{2}
	local := map[wire.Hash]versionStamp{
		{1}: {5, w1}, // newer here
		{2}: {5, w1}, // equal
		{3}: {5, w1}, // tie, remote writer wins
		{4}: {5, w1}, // remote lacks it
	}
	remote := map[wire.Hash]versionStamp{
		{1}: {4, w1},
		{2}: {5, w1},
		{3}: {5, w2},
		{5}: {1, w1}, // local lacks it
	}
	push, pull := diffDigests(local, remote)
	if want := []wire.Hash{{1}, {4}}; !slices.Equal(push, want) {
		t.Errorf("push = %x, want %x", push, want)
	}
	if want := []wire.Hash{{3}, {5}}; !slices.Equal(pull, want) {
		t.Errorf("pull = %x, want %x", pull, want)
	}
}

func TestPlanChunk(t *testing.T) {
	cs := contacts(6)
	p := erasure.Params{Data: 2, Parity: 2}
	held := map[identity.NodeID][]uint16{
		cs[1].ID: {0},
		cs[2].ID: {1},
		cs[4].ID: {3},
	}

	plan := planChunk(cs[1].ID, cs, held, nil, p, false)
	if !plan.Responsible {
		t.Error("first live holder in XOR order is not responsible")
	}
	if !slices.Equal(plan.Missing, []int{2}) || len(plan.Targets) != 1 || plan.Targets[0].ID != cs[0].ID {
		t.Errorf("plan = missing %v to %v, want shard 2 to the closest free node", plan.Missing, plan.Targets)
	}
	if plan.Lost {
		t.Error("chunk with 3 of 4 shards marked lost")
	}
	for _, other := range []int{2, 4} {
		if planChunk(cs[other].ID, cs, held, nil, p, false).Responsible {
			t.Errorf("holder %d is responsible too", other)
		}
	}
	if !planChunk(cs[2].ID, cs, held, nil, p, true).Responsible {
		t.Error("forced holder is not responsible")
	}

	lost := planChunk(cs[1].ID, cs, map[identity.NodeID][]uint16{cs[1].ID: {0}}, nil, p, false)
	if !lost.Lost {
		t.Error("chunk with 1 of 4 shards not marked lost")
	}
}

func TestPlanChunkFewerNodesThanShards(t *testing.T) {
	cs := contacts(3)
	p := erasure.Params{Data: 2, Parity: 2}
	held := map[identity.NodeID][]uint16{cs[0].ID: {0}, cs[1].ID: {1}}
	plan := planChunk(cs[0].ID, cs, held, nil, p, false)
	if !slices.Equal(plan.Missing, []int{2, 3}) || len(plan.Targets) != 2 {
		t.Fatalf("plan = missing %v to %d targets, want 2 and 3 placed", plan.Missing, len(plan.Targets))
	}
	if plan.Targets[0].ID != cs[2].ID || plan.Targets[1].ID != cs[0].ID {
		t.Errorf("targets = %v, want the free node first, then the closest loaded one", plan.Targets)
	}
}

// TestPlanChunkSilentHolderGetsNothing checks that a candidate whose
// shard list is unknown gets no shard: if it held one already, it would
// hold two, and losing it would cost both.
func TestPlanChunkSilentHolderGetsNothing(t *testing.T) {
	cs := contacts(7)
	p := erasure.Params{Data: 3, Parity: 3}
	silent := map[identity.NodeID]bool{cs[5].ID: true}

	// cs[6] lies outside the 6 closest and holds shard 5; the only close
	// node that listed nothing is silent, so the shard stays where it is.
	held := map[identity.NodeID][]uint16{
		cs[0].ID: {0}, cs[1].ID: {1}, cs[2].ID: {2}, cs[3].ID: {3}, cs[4].ID: {4}, cs[6].ID: {5},
	}
	plan := planChunk(cs[0].ID, cs, held, silent, p, false)
	if len(plan.Moves) != 0 {
		t.Errorf("moves = %v, want none", plan.Moves)
	}
	if plan = planChunk(cs[0].ID, cs, held, nil, p, false); len(plan.Moves) != 1 || plan.Moves[0].To.ID != cs[5].ID {
		t.Errorf("moves without silent holders = %v, want shard 5 to the empty close node", plan.Moves)
	}

	// No candidate lists shard 5, so it is rebuilt on a node that listed its shards.
	delete(held, cs[6].ID)
	plan = planChunk(cs[0].ID, cs, held, silent, p, false)
	if !slices.Equal(plan.Missing, []int{5}) || len(plan.Targets) != 1 {
		t.Fatalf("plan = missing %v to %v, want shard 5 placed once", plan.Missing, plan.Targets)
	}
	if plan.Targets[0].ID != cs[6].ID {
		t.Errorf("target = %s, want the empty node that answered", plan.Targets[0].ID.Short())
	}
}

func TestTierPolicyHysteresis(t *testing.T) {
	p := TierPolicy{UpperUptime: time.Hour, UpperFree: 1000, MiddleFree: 100, Hysteresis: 0.1}
	tests := []struct {
		name   string
		cur    Tier
		uptime time.Duration
		free   uint64
		want   Tier
	}{
		{"new node with disk", Lower, 0, 5000, Middle},
		{"just over the upper bar stays middle", Middle, 61 * time.Minute, 1050, Middle},
		{"clear of the upper bar", Middle, 67 * time.Minute, 1200, Upper},
		{"upper just under the bar stays", Upper, 55 * time.Minute, 950, Upper},
		{"upper well under the bar drops", Upper, 30 * time.Minute, 950, Middle},
		{"disk nearly full", Middle, 2 * time.Hour, 85, Lower},
		{"lower just over the middle bar stays", Lower, 2 * time.Hour, 105, Lower},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.Next(tt.cur, tt.uptime, tt.free); got != tt.want {
				t.Fatalf("Next(%v, %v, %d) = %v, want %v", tt.cur, tt.uptime, tt.free, got, tt.want)
			}
		})
	}
}

func TestScaledParams(t *testing.T) {
	nominal := erasure.Params{Data: 16, Parity: 16}
	for _, tt := range []struct {
		holders int
		want    erasure.Params
	}{
		{48, nominal}, {32, nominal}, {24, erasure.Params{Data: 12, Parity: 12}},
		{3, erasure.Params{Data: 1, Parity: 1}}, {1, erasure.Params{Data: 1}}, {0, erasure.Params{Data: 1}},
	} {
		if got := ScaledParams(nominal, tt.holders); got != tt.want {
			t.Errorf("ScaledParams(16+16, %d) = %v, want %v", tt.holders, got, tt.want)
		}
	}

	wide := erasure.Params{Data: 32, Parity: 16}
	for _, tt := range []struct {
		holders int
		want    erasure.Params
	}{
		{48, wide}, {47, erasure.Params{Data: 31, Parity: 16}}, {32, erasure.Params{Data: 16, Parity: 16}},
		{31, erasure.Params{Data: 15, Parity: 15}}, {24, erasure.Params{Data: 12, Parity: 12}},
	} {
		if got := ScaledParams(wide, tt.holders); got != tt.want {
			t.Errorf("ScaledParams(32+16, %d) = %v, want %v", tt.holders, got, tt.want)
		}
	}
}

func TestLowerTierHoldsNothing(t *testing.T) {
	c := newCluster(t, 1, smallParams(1, 0, 1))
	h := c.node(0).holder
	_, d := sealedRecord(t, c.node(0), "ns", "k", "v")
	h.SetTier(Lower)
	for _, m := range []wire.Message{
		&wire.PutShard{Chunk: wire.Hash{1}, Shard: []byte{1}},
		&wire.PutNamespace{Namespace: "ns", Descriptor: d.Bytes()},
	} {
		resp := h.HandleMessage(t.Context(), transportPeer(c.node(0).Self()), m)
		if e, ok := resp.(*wire.Error); !ok || e.Code != wire.CodeNotHolder {
			t.Errorf("%v at a lower-tier holder = %#v, want CodeNotHolder", m.Type(), resp)
		}
	}
	if got := h.Stats().Rejected[RejectNotHolder]; got != 2 {
		t.Errorf("Rejected[not_holder] = %d, want 2", got)
	}
}

func TestCodeForLargeChunk(t *testing.T) {
	nominal := erasure.Params{Data: 16, Parity: 16}
	sealed := 1<<20 + 16
	p := codeFor(nominal, 3, sealed)
	if p.Parity != 1 || p.MaxChunkSize() < sealed {
		t.Fatalf("codeFor(16+16, 3 holders, %d bytes) = %v, which does not fit or lost parity", sealed, p)
	}
	if got := codeFor(nominal, 48, sealed); got != nominal {
		t.Errorf("codeFor on 48 holders = %v, want %v", got, nominal)
	}
}

func TestPlanChunkHandover(t *testing.T) {
	cs := contacts(8)
	p := erasure.Params{Data: 2, Parity: 2}
	tests := []struct {
		name      string
		held      map[identity.NodeID][]uint16
		wantMoves []shardMove
		wantDrops []shardCopy
	}{
		{
			name: "outside holders hand over to empty close holders by index",
			held: map[identity.NodeID][]uint16{
				cs[0].ID: {0}, cs[5].ID: {1}, cs[6].ID: {3}, cs[2].ID: {2},
			},
			wantMoves: []shardMove{
				{Index: 1, From: cs[5], To: cs[1]},
				{Index: 3, From: cs[6], To: cs[3]},
			},
		},
		{
			name: "outside copy of an index a close holder has is dropped",
			held: map[identity.NodeID][]uint16{
				cs[0].ID: {0}, cs[1].ID: {1}, cs[2].ID: {2}, cs[3].ID: {3}, cs[7].ID: {2},
			},
			wantDrops: []shardCopy{{Index: 2, Holder: cs[7]}},
		},
		{
			name: "close holder with two shards keeps the one of its position",
			held: map[identity.NodeID][]uint16{
				cs[0].ID: {0}, cs[1].ID: {1, 3}, cs[2].ID: {2},
			},
			wantMoves: []shardMove{{Index: 3, From: cs[1], To: cs[3]}},
		},
		{
			// cs[3] drops its second copy of 1 in this pass, and takes
			// shard 3 in the next, once it is empty.
			name: "no empty close holder keeps the shard where it is",
			held: map[identity.NodeID][]uint16{
				cs[0].ID: {0}, cs[1].ID: {1}, cs[2].ID: {2}, cs[3].ID: {1}, cs[6].ID: {3},
			},
			wantDrops: []shardCopy{{Index: 1, Holder: cs[3]}},
		},
		{
			name: "second copy on a farther close holder is dropped",
			held: map[identity.NodeID][]uint16{
				cs[0].ID: {0}, cs[1].ID: {1}, cs[2].ID: {2}, cs[3].ID: {3, 1},
			},
			wantDrops: []shardCopy{{Index: 1, Holder: cs[3]}},
		},
		{
			name: "close holder keeps its own index and drops the copy before handing over",
			held: map[identity.NodeID][]uint16{
				cs[0].ID: {0, 2}, cs[1].ID: {1, 0}, cs[2].ID: {3},
			},
			wantMoves: []shardMove{{Index: 2, From: cs[0], To: cs[3]}},
			wantDrops: []shardCopy{{Index: 0, Holder: cs[1]}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := planChunk(cs[0].ID, cs, tt.held, nil, p, false)
			if len(plan.Missing) != 0 {
				t.Fatalf("plan has missing shards %v; every index is held", plan.Missing)
			}
			if !slices.Equal(plan.Moves, tt.wantMoves) {
				t.Errorf("moves = %v, want %v", plan.Moves, tt.wantMoves)
			}
			if !slices.Equal(plan.Drops, tt.wantDrops) {
				t.Errorf("drops = %v, want %v", plan.Drops, tt.wantDrops)
			}
		})
	}
}

// TestPlanChunkRebuildBeforeMoves checks that missing shards and moves
// get different empty holders, since the responsible holder rebuilds
// while the others hand over in the same pass.
func TestPlanChunkRebuildBeforeMoves(t *testing.T) {
	cs := contacts(6)
	p := erasure.Params{Data: 1, Parity: 2}
	held := map[identity.NodeID][]uint16{cs[0].ID: {0}, cs[4].ID: {1}}
	plan := planChunk(cs[0].ID, cs, held, nil, p, false)
	if !slices.Equal(plan.Missing, []int{2}) || len(plan.Targets) != 1 || plan.Targets[0].ID != cs[2].ID {
		t.Fatalf("plan = missing %v to %v, want shard 2 to the third closest", plan.Missing, plan.Targets)
	}
	want := []shardMove{{Index: 1, From: cs[4], To: cs[1]}}
	if !slices.Equal(plan.Moves, want) {
		t.Errorf("moves = %v, want %v", plan.Moves, want)
	}
}
