package town

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/yuinet/yui/alert"
	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
)

// AlertCore runs package alert's Machine, the alert flood of every Yui
// node, on each node of the mesh. The Machine addresses each message to
// one neighbour. On a radio, the messages of one call that carry the same
// content go out as one frame with a list of addressees. Every node that
// hears a push hands it to its Machine, to whichever node it was
// addressed, since an alert is worth taking from any frame. A summary goes only to
// its addressees: a summary that asks for a reply would otherwise draw
// one from every neighbour of its sender.
//
// The simulator tells each Machine which nodes it hears, through
// NeighbourUp and NeighbourDown, as soon as the links change. Each node
// ticks its Machine only at its own slots, one per sync interval, so the
// summaries that fall due within a slot go out as one frame. Without
// slots the Machine's timers, one per neighbour, drift apart as
// neighbours come and go, and a node sends one frame per neighbour and
// interval.
//
// NOTE: a radio learns its neighbours from beacons, which take time and
// airtime. Neither is simulated, so the control frames counted here are
// the Machines' summaries alone.
type AlertCore struct {
	// SyncInterval is how often a Machine sends each neighbour its
	// summary; 0 keeps the package default.
	SyncInterval time.Duration

	signer      alert.Signer
	authorities alert.Authorities
	signed      map[AlertID]*alert.Signed
}

// coreEpoch is the wall-clock time of the start of a run, which the
// Machines need: alerts carry absolute issue and expiry times.
var coreEpoch = time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)

// NewAlertCore returns the protocol with a fixed authority that signs
// every alert of the runs.
func NewAlertCore(syncInterval time.Duration) (*AlertCore, error) {
	seed := sha256.Sum256([]byte("yui sim town authority"))
	signer := alert.Signer{Name: "town", Key: ed25519.NewKeyFromSeed(seed[:])}
	auths, err := alert.NewAuthorities([]alert.Authority{signer.Authority()})
	if err != nil {
		return nil, fmt.Errorf("town: %w", err)
	}
	return &AlertCore{
		SyncInterval: syncInterval, signer: signer, authorities: auths,
		signed: map[AlertID]*alert.Signed{},
	}, nil
}

// Name returns "yui".
func (p *AlertCore) Name() string { return "yui" }

// NewRelay returns a node with a Machine that holds nothing.
func (p *AlertCore) NewRelay(id int, seed uint64) Relay {
	// A push crosses a radio hop in milliseconds, so half an interval is
	// ample for one in flight when a summary lacking it was sent. The
	// package's default of 10 seconds would skip every other round at
	// summaries 10 seconds apart.
	m := alert.New(alert.Config{
		Authorities: p.authorities, SyncInterval: p.SyncInterval, ResendAfter: p.interval() / 2,
	})
	return &coreRelay{id: id, protocol: p, machine: m, neighbours: map[int]bool{}, seed: seed}
}

// interval returns the sync interval the Machines use.
func (p *AlertCore) interval() time.Duration {
	if p.SyncInterval <= 0 {
		return time.Minute // the package's default
	}
	return p.SyncInterval
}

// sign returns the signed form of a, the same for every node that sends
// it.
func (p *AlertCore) sign(a Alert) (*alert.Signed, error) {
	if s, ok := p.signed[a.ID]; ok {
		return s, nil
	}
	s, err := alert.Sign(alert.Alert{
		Sequence: uint64(a.ID),
		Level:    alert.Evacuate,
		Issued:   coreEpoch,
		Expires:  coreEpoch.Add(a.Expires),
		Text:     "Evacuate to the school on the hill.",
	}, p.signer)
	if err != nil {
		return nil, fmt.Errorf("town: sign alert %d: %w", a.ID, err)
	}
	p.signed[a.ID] = s
	return s, nil
}

// coreFrame is a frame of AlertCore: one message of a Machine and the
// nodes it was addressed to, ascending.
type coreFrame struct {
	Msg wire.Message
	To  []int
}

type coreRelay struct {
	id         int
	protocol   *AlertCore
	machine    *alert.Machine
	neighbours map[int]bool
	seed       uint64
}

func (r *coreRelay) Originate(now time.Duration, a Alert) Effects {
	s, err := r.protocol.sign(a)
	if err != nil {
		// Sign fails only on an invalid alert. The expiry is the one field
		// that varies, and Run rejects a duration that is not positive.
		return Effects{}
	}
	if err := r.machine.Publish(coreEpoch.Add(now), s); err != nil {
		return Effects{}
	}
	return r.effects()
}

func (r *coreRelay) Receive(now time.Duration, from int, body any) Effects {
	f, ok := body.(coreFrame)
	if !ok {
		return Effects{}
	}
	if _, summary := f.Msg.(*wire.AlertSummary); summary {
		if _, addressed := slices.BinarySearch(f.To, r.id); !addressed {
			return Effects{}
		}
	}
	r.machine.HandleMessage(coreEpoch.Add(now), corePeer(from), f.Msg)
	return r.effects()
}

func (r *coreRelay) Tick(now time.Duration) Effects {
	r.machine.Tick(coreEpoch.Add(now))
	return r.effects()
}

// NextTick returns the first slot at or after the Machine's deadline.
// Slots fall every sync interval, at an offset derived from the node's
// seed.
func (r *coreRelay) NextTick() time.Duration {
	next := r.machine.NextDeadline()
	if next.IsZero() {
		return -1
	}
	interval := r.protocol.interval()
	offset := time.Duration(r.seed % uint64(interval))
	due := next.Sub(coreEpoch) - offset
	slots := (due + interval - 1) / interval
	return offset + max(slots, 0)*interval
}

// SetNeighbours reports to the Machine the neighbours that appeared and
// went away since the last call. At the start of the run the nodes are
// taken to have met before it: their summaries, which list no alerts
// yet, are not sent, and each node's first summary falls at a point of
// the sync interval derived from its seed.
func (r *coreRelay) SetNeighbours(now time.Duration, peers []int, initial bool) Effects {
	at := coreEpoch.Add(now)
	if initial {
		interval := r.protocol.interval()
		at = at.Add(time.Duration(r.seed%uint64(interval)) - interval)
	}
	current := map[int]bool{}
	for _, p := range peers {
		current[p] = true
		if !r.neighbours[p] {
			r.machine.NeighbourUp(at, corePeer(p))
		}
	}
	for _, p := range sortedKeys(r.neighbours) {
		if !current[p] {
			r.machine.NeighbourDown(at, corePeer(p))
		}
	}
	r.neighbours = current
	if initial {
		r.machine.Outbox()
		r.machine.Events()
		return Effects{}
	}
	return r.effects()
}

// effects collects the Machine's outbox and events. Messages of equal
// content become one broadcast frame, in the order of their first
// occurrence.
func (r *coreRelay) effects() Effects {
	var e Effects
	for _, ev := range r.machine.Events() {
		if ev.Kind == alert.Accepted {
			e.Delivered = append(e.Delivered, AlertID(ev.Alert.Sequence))
		}
	}
	index := map[string]int{}
	var frames []coreFrame
	for _, out := range r.machine.Outbox() {
		key := messageKey(out.Msg)
		k, ok := index[key]
		if !ok {
			k = len(frames)
			index[key] = k
			frames = append(frames, coreFrame{Msg: out.Msg})
		}
		frames[k].To = append(frames[k].To, coreNode(out.To))
	}
	for _, f := range frames {
		slices.Sort(f.To)
		_, push := f.Msg.(*wire.AlertPush)
		e.Frames = append(e.Frames, Frame{Body: f, Data: push})
	}
	return e
}

// messageKey returns a string equal for two messages of equal content.
func messageKey(msg wire.Message) string {
	var b strings.Builder
	switch m := msg.(type) {
	case *wire.AlertPush:
		b.WriteString("push")
		for _, raw := range m.Alerts {
			b.Write(binary.AppendUvarint(nil, uint64(len(raw))))
			b.Write(raw)
		}
	case *wire.AlertSummary:
		fmt.Fprintf(&b, "summary %t", m.Reply)
		for _, id := range m.IDs {
			b.Write(id[:])
		}
	default:
		fmt.Fprintf(&b, "%T %p", msg, msg)
	}
	return b.String()
}

// corePeer returns the peer ID of node k: k in the first bytes, so that
// peers sort as the nodes do.
func corePeer(k int) alert.Peer {
	var p identity.NodeID
	binary.BigEndian.PutUint32(p[:4], uint32(k))
	return p
}

// coreNode returns the node index of a peer ID made by corePeer.
func coreNode(p alert.Peer) int { return int(binary.BigEndian.Uint32(p[:4])) }

func sortedKeys(m map[int]bool) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
