package town

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"
)

// TestULBThirtyPercentDownReachesLimit is the alert protocol's promise
// on the measured graph: with 30% of the relays down, every receiver
// still connected to the sender gets the alert.
func TestULBThirtyPercentDownReachesLimit(t *testing.T) {
	d := n1(t)
	g := d.Graph(mustFit(t, d))
	down := int(math.Round(0.3 * float64(g.Len())))
	for seed := uint64(1); seed <= 8; seed++ {
		opts := baseOptions(yui(t), seed)
		opts.Fail, opts.Duration = 0.3, 5*time.Minute
		r := mustRun(t, g, opts)
		if r.Receivers != g.Len()-down-1 {
			t.Errorf("seed %d: %d receivers, want %d", seed, r.Receivers, g.Len()-down-1)
		}
		if r.Delivered != r.Reachable {
			t.Errorf("seed %d: delivered to %d of %d reachable receivers", seed, r.Delivered, r.Reachable)
		}
	}
}

// TestULBChurnReachesLimit adds relays that fail and recover to the 30%
// that are down, so that receivers come and go during the flood.
func TestULBChurnReachesLimit(t *testing.T) {
	d := n1(t)
	g := d.Graph(mustFit(t, d))
	for seed := uint64(1); seed <= 4; seed++ {
		opts := baseOptions(yui(t), seed)
		opts.Fail, opts.Churn, opts.DownTime = 0.3, 0.3, 2*time.Minute
		opts.Duration = 5 * time.Minute
		r := mustRun(t, g, opts)
		if r.Delivered != r.Reachable {
			t.Errorf("seed %d: delivered to %d of %d reachable receivers", seed, r.Delivered, r.Reachable)
		}
	}
}

// TestGeneratedFailuresReachLimit holds the same promise on a multi-hop
// town, where the limit is below 100%. Some receivers hang on links that
// deliver one frame in ten, and the alert core repairs a lost push only
// when a summary and the push answering it both get through, so the run
// lasts 30 minutes.
func TestGeneratedFailuresReachLimit(t *testing.T) {
	fit := mustFit(t, n1(t))
	belowFull := false
	for seed := uint64(1); seed <= 3; seed++ {
		g, err := Generate(fit, GenerateOptions{Relays: 300, AreaKm2: 4, Degree: 8, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		opts := baseOptions(yui(t), seed)
		opts.Fail, opts.Duration = 0.4, 30*time.Minute
		r := mustRun(t, g, opts)
		if r.Delivered != r.Reachable {
			t.Errorf("seed %d: delivered to %d of %d reachable receivers", seed, r.Delivered, r.Reachable)
		}
		belowFull = belowFull || r.Reachable < r.Receivers
	}
	if !belowFull {
		t.Error("every run reached every receiver; the town is too dense to test the limit")
	}
}

func TestFloodSmallHopLimitDeliversLess(t *testing.T) {
	fit := mustFit(t, n1(t))
	g, err := Generate(fit, GenerateOptions{Relays: 400, AreaKm2: 4, Degree: 6, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	stored := mustRun(t, g, baseOptions(yui(t), 1))
	flooded := mustRun(t, g, baseOptions(flood(1), 1))
	if flooded.Delivered >= stored.Delivered {
		t.Errorf("flood with hop limit 1 delivered to %d receivers, yui to %d; want fewer", flooded.Delivered, stored.Delivered)
	}
	if flooded.Ratio() > 0.2 {
		t.Errorf("flood with hop limit 1 reached %.1f%% of a sparse town, want at most 20%%", 100*flooded.Ratio())
	}
}

func TestFloodHopLimitOnLine(t *testing.T) {
	g := lineGraph(10)
	for _, tc := range []struct {
		protocol  Protocol
		delivered int
	}{
		{flood(0), 1}, // the sender's own transmission only
		{flood(3), 4}, // three rebroadcasts: four radio hops
		{yui(t), 9},
	} {
		opts := baseOptions(tc.protocol, 1)
		opts.FixedSender, opts.Sender = true, 0
		r := mustRun(t, g, opts)
		if r.Delivered != tc.delivered {
			t.Errorf("%s: delivered to %d, want %d", describe(tc.protocol), r.Delivered, tc.delivered)
		}
		if r.Reachable != 9 {
			t.Errorf("%s: %d reachable, want 9", describe(tc.protocol), r.Reachable)
		}
	}
}

func describe(p Protocol) string {
	if f, ok := p.(Flood); ok {
		return fmt.Sprintf("%s hop limit %d", p.Name(), f.HopLimit)
	}
	return p.Name()
}

// TestFloodSenderRetries checks that a sender that hears no rebroadcast
// sends its message again, three times.
func TestFloodSenderRetries(t *testing.T) {
	opts := baseOptions(flood(0), 1)
	opts.FixedSender, opts.Sender = true, 0
	r := mustRun(t, lineGraph(2), opts)
	if r.DataFrames != 4 {
		t.Errorf("sender transmitted %d times, want 1 and 3 retries", r.DataFrames)
	}
}

func TestStoreForwardHandsAlertToLaterNeighbour(t *testing.T) {
	p := StoreForward{BeaconInterval: 10 * time.Second}
	holder := p.NewRelay(0, 0)
	a := Alert{ID: 7, Expires: time.Minute}
	holder.Originate(0, a)

	// A neighbour that appears later lacks the alert in its beacon.
	e := holder.Receive(20*time.Second, 1, storeBeacon{})
	if len(e.Frames) != 1 || !e.Frames[0].Data {
		t.Fatalf("holder answered a beacon lacking the alert with %+v, want one data frame", e.Frames)
	}
	newcomer := p.NewRelay(1, 0)
	got := newcomer.Receive(20*time.Second, 0, e.Frames[0].Body)
	if !reflect.DeepEqual(got.Delivered, []AlertID{7}) {
		t.Errorf("newcomer delivered %v, want [7]", got.Delivered)
	}

	// After expiry the holder drops the alert and pushes nothing.
	holder.Tick(time.Minute)
	if e := holder.Receive(time.Minute+time.Second, 2, storeBeacon{}); len(e.Frames) != 0 {
		t.Errorf("holder pushed %d frames after the alert expired", len(e.Frames))
	}
}

func TestRunDeterministic(t *testing.T) {
	fit := mustFit(t, n1(t))
	g, err := Generate(fit, GenerateOptions{Relays: 100, AreaKm2: 1, Degree: 8, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	opts := baseOptions(yui(t), 3)
	opts.Duration = 2 * time.Minute
	opts.Fail, opts.Churn, opts.DownTime = 0.1, 0.2, time.Minute
	opts.People, opts.Speed, opts.MoveStep = 10, 1.4, 10*time.Second

	first := mustRun(t, g, opts)
	second := mustRun(t, g, opts)
	if !reflect.DeepEqual(first, second) {
		t.Errorf("two runs with seed 3 differ:\n%+v\n%+v", first, second)
	}
	opts.Seed = 4
	other := mustRun(t, g, opts)
	if reflect.DeepEqual(first, other) {
		t.Error("seeds 3 and 4 gave identical runs")
	}
}

// TestLimitSameForProtocols checks that the scenario, and so the limit,
// does not depend on the protocol's traffic.
func TestLimitSameForProtocols(t *testing.T) {
	fit := mustFit(t, n1(t))
	g, err := Generate(fit, GenerateOptions{Relays: 200, AreaKm2: 2, Degree: 6, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	opts := baseOptions(yui(t), 5)
	opts.Duration = 3 * time.Minute
	opts.Churn, opts.DownTime = 0.3, time.Minute
	opts.People, opts.Speed, opts.MoveStep = 20, 1.4, 10*time.Second
	stored := mustRun(t, g, opts)
	opts.Protocol = flood(3)
	flooded := mustRun(t, g, opts)
	if stored.Receivers != flooded.Receivers || stored.Reachable != flooded.Reachable {
		t.Errorf("yui run: %d of %d reachable; flood run: %d of %d", stored.Reachable, stored.Receivers, flooded.Reachable, flooded.Receivers)
	}
	if stored.Delivered > stored.Reachable || flooded.Delivered > flooded.Reachable {
		t.Errorf("a protocol beat the limit: yui %d, flood %d, limit %d", stored.Delivered, flooded.Delivered, stored.Reachable)
	}
}

func TestRunRejectsOptions(t *testing.T) {
	g := lineGraph(3)
	for name, change := range map[string]func(*Options){
		"no protocol":     func(o *Options) { o.Protocol = nil },
		"fail above 1":    func(o *Options) { o.Fail = 1.5 },
		"churn 1":         func(o *Options) { o.Churn = 1 },
		"churn no down":   func(o *Options) { o.Churn, o.DownTime = 0.2, 0 },
		"people no place": func(o *Options) { o.People, o.Speed, o.MoveStep = 1, 1, time.Second },
		"zero latency":    func(o *Options) { o.HopLatency = 0 },
		"zero duration":   func(o *Options) { o.Duration = 0 },
		"sender outside":  func(o *Options) { o.FixedSender, o.Sender = true, 3 },
	} {
		opts := baseOptions(yui(t), 1)
		change(&opts)
		if _, err := Run(g, opts); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("%s: Run = %v, want ErrInvalidOptions", name, err)
		}
	}
	opts := baseOptions(yui(t), 1)
	opts.Fail = 1
	if _, err := Run(g, opts); !errors.Is(err, ErrNoSender) {
		t.Errorf("all relays down: Run = %v, want ErrNoSender", err)
	}
}

// TestStoreProtocolReachesLimit runs the broadcast-only variant where the
// alert core's tests run.
func TestStoreProtocolReachesLimit(t *testing.T) {
	fit := mustFit(t, n1(t))
	g, err := Generate(fit, GenerateOptions{Relays: 300, AreaKm2: 4, Degree: 8, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	opts := baseOptions(store(), 2)
	opts.Fail = 0.4
	r := mustRun(t, g, opts)
	if r.Delivered != r.Reachable {
		t.Errorf("delivered to %d of %d reachable receivers", r.Delivered, r.Reachable)
	}
}

// TestAlertCoreMeetsLaterNeighbour passes frames between two nodes of
// AlertCore: a node that appears after the flood gets the alert from the
// summary exchange that NeighbourUp starts.
func TestAlertCoreMeetsLaterNeighbour(t *testing.T) {
	p := yui(t)
	holder := p.NewRelay(0, 0).(*coreRelay)
	newcomer := p.NewRelay(1, 0).(*coreRelay)
	holder.SetNeighbours(0, nil, true)
	newcomer.SetNeighbours(0, nil, true)
	sent := holder.Originate(0, Alert{ID: 3, Expires: time.Hour})
	if !reflect.DeepEqual(sent.Delivered, []AlertID{3}) {
		t.Fatalf("sender delivered %v, want [3]", sent.Delivered)
	}
	if len(sent.Frames) != 0 {
		t.Errorf("sender with no neighbours sent %d frames", len(sent.Frames))
	}

	// The two meet a minute later; frames go back and forth until quiet.
	now := time.Minute
	nodes := map[int]*coreRelay{0: holder, 1: newcomer}
	queue := []struct {
		from int
		e    Effects
	}{{0, holder.SetNeighbours(now, []int{1}, false)}, {1, newcomer.SetNeighbours(now, []int{0}, false)}}
	var got []AlertID
	for rounds := 0; len(queue) > 0; rounds++ {
		if rounds > 20 {
			t.Fatal("the exchange did not end in 20 rounds")
		}
		next := queue[0]
		queue = queue[1:]
		for _, f := range next.e.Frames {
			to := 1 - next.from
			e := nodes[to].Receive(now, next.from, f.Body)
			if to == 1 {
				got = append(got, e.Delivered...)
			}
			queue = append(queue, struct {
				from int
				e    Effects
			}{to, e})
		}
	}
	if !reflect.DeepEqual(got, []AlertID{3}) {
		t.Errorf("newcomer delivered %v, want [3]", got)
	}
}

// TestPointToPointCountsDestination sends 20 messages along a line, one
// per seed: each run counts one destination, which store-and-forward
// always reaches and a flood that is never rebroadcast reaches only next
// to the sender.
func TestPointToPointCountsDestination(t *testing.T) {
	g := lineGraph(10)
	delivered := map[string]int{}
	for seed := uint64(1); seed <= 20; seed++ {
		for _, p := range []Protocol{yui(t), flood(0)} {
			opts := baseOptions(p, seed)
			opts.FixedSender, opts.Sender, opts.PointToPoint = true, 0, true
			r := mustRun(t, g, opts)
			if r.Receivers != 1 || r.Reachable != 1 {
				t.Errorf("%s seed %d: %d receivers, %d reachable, want 1 and 1", p.Name(), seed, r.Receivers, r.Reachable)
			}
			if len(r.Latencies) != r.Delivered {
				t.Errorf("%s seed %d: %d latencies for %d deliveries", p.Name(), seed, len(r.Latencies), r.Delivered)
			}
			delivered[p.Name()] += r.Delivered
		}
	}
	if delivered["yui"] != 20 {
		t.Errorf("yui delivered %d of 20 messages", delivered["yui"])
	}
	if delivered["flood"] >= 10 {
		t.Errorf("flood with hop limit 0 delivered %d of 20 messages on a line of 10, want fewer than 10", delivered["flood"])
	}
}
