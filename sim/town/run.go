package town

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// ErrNoSender reports a run in which every relay is down when the alert
// is sent.
var ErrNoSender = errors.New("town: no relay is up to send the alert")

// Options describe one scenario.
type Options struct {
	Protocol Protocol
	// Fail is the share of relays, from 0 to 1, that are down for the
	// whole run.
	Fail float64
	// Churn is the share of time, below 1, that each other relay spends
	// down. Such relays fail and recover after exponentially distributed
	// up and down times, and DownTime is the mean down time.
	Churn    float64
	DownTime time.Duration
	// People is the number of people who carry a node and walk between
	// random points at Speed metres per second, moving every MoveStep.
	// They need a graph with positions.
	People   int
	Speed    float64
	MoveStep time.Duration
	// HopLatency is the mean time from a node's decision to send to the
	// frame's arrival: channel access and airtime. Each transmission
	// takes between half and one and a half times it, uniformly.
	HopLatency time.Duration
	// Duration is how long the run lasts after the alert is sent, which
	// is also the alert's lifetime.
	Duration time.Duration
	Seed     uint64
	// FixedSender makes relay Sender send the alert, which must be up
	// then; otherwise a random relay that is up sends it.
	FixedSender bool
	Sender      int
	// PointToPoint makes the alert a message to one node, drawn at random
	// among the nodes other than the sender and the failed relays. The
	// protocols still carry it through every node, but the delivery
	// ratio, latency and limit count that node alone.
	PointToPoint bool
}

func (o Options) validate(g *Graph) error {
	switch {
	case o.Protocol == nil:
		return fmt.Errorf("%w: no protocol", ErrInvalidOptions)
	case !(o.Fail >= 0 && o.Fail <= 1):
		return fmt.Errorf("%w: failed share %g; use 0 to 1", ErrInvalidOptions, o.Fail)
	case !(o.Churn >= 0 && o.Churn < 1):
		return fmt.Errorf("%w: churn %g; use at least 0 and below 1", ErrInvalidOptions, o.Churn)
	case o.Churn > 0 && o.DownTime <= 0:
		return fmt.Errorf("%w: churn needs a positive mean down time, got %v", ErrInvalidOptions, o.DownTime)
	case o.People < 0 || o.People > maxPeople:
		return fmt.Errorf("%w: %d people; use 0 to %d", ErrInvalidOptions, o.People, maxPeople)
	case o.People > 0 && (!g.Positioned || g.radio == nil):
		return fmt.Errorf("%w: people need a generated town, because this graph has no relay positions", ErrInvalidOptions)
	case o.People > 0 && (!(o.Speed >= 0) || o.MoveStep <= 0):
		return fmt.Errorf("%w: people need a speed of at least 0 and a positive move step, got %g m/s and %v", ErrInvalidOptions, o.Speed, o.MoveStep)
	case o.HopLatency <= 0:
		return fmt.Errorf("%w: hop latency %v; use a positive duration", ErrInvalidOptions, o.HopLatency)
	case o.FixedSender && (o.Sender < 0 || o.Sender >= g.Len()):
		return fmt.Errorf("%w: sender %d; use a relay from 0 to %d", ErrInvalidOptions, o.Sender, g.Len()-1)
	case o.Duration <= 0:
		return fmt.Errorf("%w: duration %v; use a positive duration", ErrInvalidOptions, o.Duration)
	}
	return nil
}

// Result is the outcome of one run.
type Result struct {
	// Receivers counts the nodes other than the sender that were up at
	// some time of the run. A point-to-point run counts the destination
	// alone, so Receivers is 1 or 0.
	Receivers int
	// Delivered counts the receivers the protocol delivered the alert to.
	Delivered int
	// Reachable counts the receivers that links between up nodes
	// connected to the sender at some time, each hop taking no time and
	// every node keeping the alert while down: the limit no protocol can
	// beat.
	Reachable int
	// Latencies holds the time from sending to delivery of each delivered
	// receiver, in order of delivery.
	Latencies []time.Duration
	// DataFrames and ControlFrames count transmissions of alert content
	// and of everything else.
	DataFrames, ControlFrames int
	// Nodes counts the nodes up at some time of the run, and Duration is
	// the run's length.
	Nodes    int
	Duration time.Duration
}

// Ratio returns Delivered over Receivers.
func (r Result) Ratio() float64 { return ratio(r.Delivered, r.Receivers) }

// Limit returns Reachable over Receivers.
func (r Result) Limit() float64 { return ratio(r.Reachable, r.Receivers) }

func ratio(a, b int) float64 {
	if b == 0 {
		return 1
	}
	return float64(a) / float64(b)
}

// Run sends one alert from a random relay that is up and simulates
// opts.Duration of the town.
func Run(g *Graph, opts Options) (Result, error) {
	if err := opts.validate(g); err != nil {
		return Result{}, err
	}
	w := newWorld(g, opts)
	w.failRelays()
	w.startChurn()
	w.startPeople()
	sender, ok := w.pickSender()
	if !ok {
		return Result{}, fmt.Errorf("%w: %d relays, %g failed, churn %g", ErrNoSender, g.Len(), opts.Fail, opts.Churn)
	}
	w.pickDestination(sender)
	w.originate(sender)
	w.loop()
	return w.result(), nil
}

// world is the state of one run.
type world struct {
	g    *Graph
	opts Options
	// scenario draws failures, churn and movement, air draws hop
	// latencies and losses. Two sources keep the scenario, and so the
	// connectivity limit, the same for every protocol run with one seed.
	scenario *rand.Rand
	air      *rand.Rand
	q        eventQueue
	now      time.Duration

	relays int // nodes [0, relays) are relays, the rest people
	nodes  []Relay
	up     []bool
	failed []bool
	armed  []time.Duration // time of the pending tick event, -1 for none
	people *crowd

	sender int
	// destination is the one counted receiver of a point-to-point run,
	// -1 when every node other than the sender counts.
	destination int
	alert       Alert
	everUp      []bool
	reached     []bool // connectivity limit: could have the alert by now
	delivered   []bool
	res         Result
}

func newWorld(g *Graph, opts Options) *world {
	n := g.Len() + opts.People
	w := &world{
		g: g, opts: opts,
		scenario: rand.New(rand.NewPCG(opts.Seed, 0x7363656e)),
		air:      rand.New(rand.NewPCG(opts.Seed, 0x616972)),
		relays:   g.Len(), nodes: make([]Relay, n), up: make([]bool, n),
		failed: make([]bool, g.Len()), armed: make([]time.Duration, n),
		everUp: make([]bool, n), reached: make([]bool, n), delivered: make([]bool, n),
	}
	for k := range w.nodes {
		w.nodes[k] = opts.Protocol.NewRelay(k, splitmix(opts.Seed^uint64(k)))
		w.up[k] = true
		w.armed[k] = -1
	}
	return w
}

// failRelays takes a share of the relays down for the whole run.
func (w *world) failRelays() {
	count := int(math.Round(w.opts.Fail * float64(w.relays)))
	for _, k := range w.scenario.Perm(w.relays)[:count] {
		w.failed[k] = true
		w.up[k] = false
	}
}

// startChurn draws each churning relay's state at the start from the
// steady state and schedules its first change.
func (w *world) startChurn() {
	if w.opts.Churn == 0 {
		return
	}
	for k := range w.relays {
		if w.failed[k] {
			continue
		}
		w.up[k] = w.scenario.Float64() >= w.opts.Churn
		w.scheduleToggle(k)
	}
}

func (w *world) scheduleToggle(k int) {
	mean := w.opts.DownTime
	if w.up[k] {
		mean = time.Duration(float64(w.opts.DownTime) * (1 - w.opts.Churn) / w.opts.Churn)
	}
	wait := time.Duration(w.scenario.ExpFloat64() * float64(mean))
	w.q.schedule(event{at: w.now + wait, kind: evToggle, node: int32(k)})
}

// pickDestination draws the receiver of a point-to-point run.
func (w *world) pickDestination(sender int) {
	w.destination = -1
	if !w.opts.PointToPoint {
		return
	}
	var candidates []int
	for k := range w.nodes {
		if k != sender && (k >= w.relays || !w.failed[k]) {
			candidates = append(candidates, k)
		}
	}
	if len(candidates) > 0 {
		w.destination = candidates[w.scenario.IntN(len(candidates))]
	}
}

// counted reports whether node k is a receiver whose delivery the run
// measures.
func (w *world) counted(k int) bool {
	if w.opts.PointToPoint {
		return k == w.destination
	}
	return k != w.sender
}

func (w *world) pickSender() (int, bool) {
	if w.opts.FixedSender {
		return w.opts.Sender, w.up[w.opts.Sender]
	}
	var up []int
	for k := range w.relays {
		if w.up[k] {
			up = append(up, k)
		}
	}
	if len(up) == 0 {
		return 0, false
	}
	return up[w.scenario.IntN(len(up))], true
}

// originate sends the alert at time 0 and arms every node's timers.
func (w *world) originate(sender int) {
	w.sender = sender
	w.alert = Alert{ID: 1, Expires: w.opts.Duration}
	for k := range w.nodes {
		w.everUp[k] = w.up[k]
	}
	w.reached[sender] = true
	w.spreadLimit()
	for k := range w.nodes {
		if aware, ok := w.nodes[k].(NeighbourAware); ok && w.up[k] {
			aware.SetNeighbours(w.now, w.upNeighbours(k), true)
		}
		w.arm(k)
	}
	w.apply(sender, w.nodes[sender].Originate(w.now, w.alert))
}

func (w *world) loop() {
	for w.q.Len() > 0 {
		e := w.q.next()
		if e.at > w.opts.Duration {
			return
		}
		w.now = e.at
		switch e.kind {
		case evArrive:
			w.arrive(e)
		case evTick:
			w.tick(int(e.node), e.at)
		case evToggle:
			w.toggle(int(e.node))
		case evMove:
			w.move()
		}
	}
}

func (w *world) arrive(e event) {
	k := int(e.node)
	if !w.up[k] {
		return
	}
	w.apply(k, w.nodes[k].Receive(w.now, int(e.from), e.body))
}

func (w *world) tick(k int, at time.Duration) {
	if !w.up[k] || w.armed[k] != at {
		return // superseded by a later arming, or the node is down
	}
	w.armed[k] = -1
	w.apply(k, w.nodes[k].Tick(w.now))
}

func (w *world) toggle(k int) {
	w.up[k] = !w.up[k]
	w.scheduleToggle(k)
	if !w.up[k] {
		w.armed[k] = -1
		w.eachLink(k, func(l Link) { w.notifyNeighbours(int(l.Receiver)) })
		return
	}
	w.everUp[k] = true
	w.spreadLimit()
	w.notifyNeighbours(k)
	w.eachLink(k, func(l Link) { w.notifyNeighbours(int(l.Receiver)) })
	w.arm(k)
}

func (w *world) move() {
	touched := w.people.linked()
	w.people.step(w)
	touched = append(touched, w.people.linked()...)
	slices.Sort(touched)
	for _, k := range slices.Compact(touched) {
		w.notifyNeighbours(k)
	}
	w.spreadLimit()
	w.q.schedule(event{at: w.now + w.opts.MoveStep, kind: evMove})
}

// notifyNeighbours gives node k, when up and NeighbourAware, the list of
// the up nodes it hears now.
func (w *world) notifyNeighbours(k int) {
	aware, ok := w.nodes[k].(NeighbourAware)
	if !ok || !w.up[k] {
		return
	}
	w.apply(k, aware.SetNeighbours(w.now, w.upNeighbours(k), false))
}

// upNeighbours returns the up nodes that hear node k, ascending.
func (w *world) upNeighbours(k int) []int {
	var peers []int
	w.eachLink(k, func(l Link) {
		if w.up[l.Receiver] {
			peers = append(peers, int(l.Receiver))
		}
	})
	slices.Sort(peers)
	return slices.Compact(peers)
}

// apply records the deliveries of one call, sends its frames and re-arms
// the node's tick.
func (w *world) apply(k int, e Effects) {
	for _, id := range e.Delivered {
		if id != w.alert.ID || w.delivered[k] {
			continue
		}
		w.delivered[k] = true
		// A frame in flight can land after the topology it crossed has
		// changed, which the instantaneous limit does not see. A delivery
		// proves the node reachable, so it counts in the limit.
		w.reached[k] = true
		if w.counted(k) {
			w.res.Latencies = append(w.res.Latencies, w.now)
		}
	}
	for _, f := range e.Frames {
		w.transmit(k, f)
	}
	w.arm(k)
}

// transmit broadcasts one frame: every neighbour that hears node k gets
// it, independently with its link's delivery probability, after one hop
// latency shared by all of them.
func (w *world) transmit(k int, f Frame) {
	if f.Data {
		w.res.DataFrames++
	} else {
		w.res.ControlFrames++
	}
	latency := time.Duration((0.5 + w.air.Float64()) * float64(w.opts.HopLatency))
	w.eachLink(k, func(l Link) {
		if w.air.Float64() < l.Delivery {
			w.q.schedule(event{at: w.now + latency, kind: evArrive, node: l.Receiver, from: int32(k), body: f.Body})
		}
	})
}

// eachLink calls fn for every link on which node k is heard now.
func (w *world) eachLink(k int, fn func(Link)) {
	if k < w.relays {
		for _, l := range w.g.Links[k] {
			fn(l)
		}
	}
	if w.people != nil {
		for _, l := range w.people.links[k] {
			fn(l)
		}
	}
}

func (w *world) arm(k int) {
	if !w.up[k] {
		return
	}
	at := w.nodes[k].NextTick()
	if at < 0 || at == w.armed[k] {
		return
	}
	at = max(at, w.now)
	w.armed[k] = at
	w.q.schedule(event{at: at, kind: evTick, node: int32(k)})
}

// spreadLimit marks every node that links between up nodes connect to a
// node already marked, at the current topology.
func (w *world) spreadLimit() {
	var frontier []int
	for k, r := range w.reached {
		if r && w.up[k] {
			frontier = append(frontier, k)
		}
	}
	for len(frontier) > 0 {
		k := frontier[len(frontier)-1]
		frontier = frontier[:len(frontier)-1]
		w.eachLink(k, func(l Link) {
			v := int(l.Receiver)
			if w.up[v] && !w.reached[v] {
				w.reached[v] = true
				frontier = append(frontier, v)
			}
		})
	}
}

func (w *world) result() Result {
	r := w.res
	r.Duration = w.opts.Duration
	for k := range w.nodes {
		if w.everUp[k] {
			r.Nodes++
		}
		if !w.counted(k) || !w.everUp[k] {
			continue
		}
		r.Receivers++
		if w.delivered[k] {
			r.Delivered++
		}
		if w.reached[k] {
			r.Reachable++
		}
	}
	return r
}
