package e2e

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/quic-go/quic-go"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/transport"
	"github.com/yuinet/yui/network/wire"
)

// rawEnvelope is the wire envelope with every field under the test's
// control, for messages no Yui node would send.
type rawEnvelope struct {
	_       struct{} `cbor:",toarray"`
	Version uint16
	Type    uint16
	Request uint64
	Body    cbor.RawMessage
}

func rawMessage(t *testing.T, version, typ uint16, body any) []byte {
	t.Helper()
	b, err := cbor.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	env, err := cbor.Marshal(rawEnvelope{Version: version, Type: typ, Request: 1, Body: b})
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// TestBreakGarbageFrames sends a node every kind of broken frame over a
// QUIC connection with a valid certificate. The frames hold random bytes, a
// length header above the limit, a truncated body, other protocol
// versions, unknown types and a message that fails its own checks. The
// node must drop and count each by reason, close the connection once the
// peer sent more than 16 invalid messages, keep the peer out of its
// routing table and keep serving everyone else.
func TestBreakGarbageFrames(t *testing.T) {
	ns := loopbackNS(t)
	victim := startDaemon(t, ns, "victim", filepath.Join(t.TempDir(), "victim"), loopbackArgs...)
	target := victim.contact(t)
	raw := newRawQUIC(t, ns)
	qc := raw.dial(t, target.Addr)

	noise := make([]byte, 300)
	rand.Read(noise)
	tooManyHops := &wire.FindNode{Path: make([]wire.Contact, wire.MaxPath+1)}
	for i := range tooManyHops.Path {
		tooManyHops.Path[i] = wire.Contact{ID: identity.NodeID{byte(i + 1)}, Addr: netip.MustParseAddrPort("127.0.0.1:4717")}
	}
	cases := []struct {
		reason string
		data   []byte
	}{
		{"malformed", noise},
		{"malformed", frame(noise)},
		{"too-large", []byte{0xff, 0xff, 0xff, 0xff}},
		{"too-large", frame(make([]byte, wire.MaxMessageSize+1))[:4]},
		{"truncated", frame(make([]byte, 100))[:50]},
		{"truncated", []byte{0, 0}},
		{"version", frame(rawMessage(t, wire.Version+1, uint16(wire.TypePing), struct{}{}))},
		{"version", frame(rawMessage(t, 0, uint16(wire.TypePing), struct{}{}))},
		{"unknown-type", frame(rawMessage(t, wire.Version, 999, struct{}{}))},
		{"invalid", frame(encode(t, 1, tooManyHops))},
	}
	for _, c := range cases {
		if resp, err := rawExchange(qc, c.data); err == nil {
			t.Errorf("%s frame of %d bytes got a response of %d bytes, want the stream reset", c.reason, len(c.data), len(resp))
		}
	}

	m := victim.metrics(t)
	for _, reason := range []string{"malformed", "too-large", "truncated", "version", "unknown-type", "invalid"} {
		key := fmt.Sprintf("yui_messages_dropped_total{reason=%q}", reason)
		if m[key] < 1 {
			t.Errorf("%s = %v, want at least 1", key, m[key])
		}
	}

	// Past 16 invalid messages the node closes the connection.
	for i := 0; i < 16 && qc.Context().Err() == nil; i++ {
		rawExchange(qc, noise)
	}
	select {
	case <-qc.Context().Done():
	case <-time.After(10 * time.Second):
		t.Fatal("node kept the connection of a peer that sent 26 invalid messages")
	}
	if n := victim.metrics(t)["yui_bad_peers_total"]; n != 1 {
		t.Errorf("yui_bad_peers_total = %v, want 1", n)
	}

	if _, listed := victim.peers(t)[raw.id.ID]; listed {
		t.Error("node lists a peer that sent only invalid messages")
	}
	honest := startPeer(t, ns, "127.0.0.1:0", nil)
	mustRespond(t, honest, target, "after the garbage")
}

// TestBreakStreamFlood opens every stream a node allows on one connection
// and leaves them silent, then sends a thousand valid requests without
// reading one response. Another peer must be served throughout, and the
// silent streams must end as timeouts, not as protocol violations.
func TestBreakStreamFlood(t *testing.T) {
	ns := loopbackNS(t)
	victim := startDaemon(t, ns, "victim", filepath.Join(t.TempDir(), "victim"), loopbackArgs...)
	target := victim.contact(t)
	raw := newRawQUIC(t, ns)
	qc := raw.dial(t, target.Addr)
	honest := startPeer(t, ns, "127.0.0.1:0", nil)

	// Silent streams: quic-go sends a stream's frames only once data is
	// written, so each gets one byte of a frame header that never ends.
	var silent []*quic.Stream
	for {
		s, err := qc.OpenStream()
		if err != nil {
			break // the node's stream limit is reached
		}
		s.Write([]byte{0})
		silent = append(silent, s)
		if len(silent) > 10000 {
			t.Fatal("node allows more than 10000 concurrent streams on one connection")
		}
	}
	t.Logf("node allowed %d concurrent streams", len(silent))
	mustRespond(t, honest, target, "while the streams are open")

	// A thousand requests whose responses the test never reads.
	ping := frame(encode(t, 7, &wire.Ping{}))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := 0; i < 1000; i++ {
		s, err := qc.OpenStreamSync(ctx)
		if err != nil {
			t.Fatalf("open request stream %d: %v", i, err)
		}
		s.Write(ping)
		s.Close()
	}
	mustRespond(t, honest, target, "after 1000 unread responses")

	// The node gives each stream 10 s, its default request timeout.
	deadline := time.Now().Add(30 * time.Second)
	key := `yui_messages_dropped_total{reason="timeout"}`
	for victim.metrics(t)[key] < float64(len(silent)) {
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v after 30 s, want %d", key, victim.metrics(t)[key], len(silent))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if n := victim.metrics(t)["yui_bad_peers_total"]; n != 0 {
		t.Errorf("yui_bad_peers_total = %v, want 0: slow streams are no protocol violation", n)
	}
}

// lyingPeer responds to FindNode with contacts that no honest node would
// send, and to Ping with a Pong.
type lyingPeer struct {
	mu   sync.Mutex // guards lies, which the test changes while the transport serves
	lies []wire.Contact
}

func (p *lyingPeer) setLies(lies []wire.Contact) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lies = lies
}

func (p *lyingPeer) HandleMessage(_ context.Context, from transport.Peer, msg wire.Message, isRequest bool) wire.Message {
	switch msg.(type) {
	case *wire.Ping:
		return &wire.Pong{Observed: from.Addr}
	case *wire.FindNode:
		p.mu.Lock()
		defer p.mu.Unlock()
		return &wire.Nodes{Contacts: slices.Clone(p.lies)}
	}
	if isRequest {
		return &wire.Error{Code: wire.CodeUnsupported}
	}
	return nil
}

// randomIDs returns n fresh node IDs.
func randomIDs(t *testing.T, n int) []identity.NodeID {
	ids := make([]identity.NodeID, n)
	for i := range ids {
		id, err := identity.New()
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id.ID
	}
	return ids
}

// TestBreakLyingNodesResponse makes a node look up through a peer that
// responds with lies. They are the victim's own ID, an honest node's ID at
// the liar's address, a loopback port where no node listens, a link-local
// address and the liar's address under 60 IDs it does not own. None of
// them may enter the victim's routing table, the honest node's entry must
// keep its real address, and the lookup must still find the honest node.
// A response with a multicast or unspecified contact must be dropped as
// invalid.
func TestBreakLyingNodesResponse(t *testing.T) {
	ns := loopbackNS(t)
	victim := startDaemon(t, ns, "victim", filepath.Join(t.TempDir(), "victim"), loopbackArgs...)
	target := victim.contact(t)
	honest := startDaemon(t, ns, "honest", filepath.Join(t.TempDir(), "honest"),
		append(loopbackArgs, "--bootstrap", target.Addr.String())...)
	honestContact := honest.contact(t)
	if !victim.waitPeer(t, honestContact.ID, honestContact.Addr, startLimit) {
		t.Fatal("victim does not list the honest node that bootstrapped from it")
	}

	liar := &lyingPeer{}
	attacker := startPeer(t, ns, "127.0.0.1:0", liar)
	fakes := randomIDs(t, 62)
	lies := []wire.Contact{
		{ID: target.ID, Addr: attacker.LocalAddr()},
		{ID: honestContact.ID, Addr: attacker.LocalAddr()},
		{ID: fakes[0], Addr: netip.MustParseAddrPort("127.0.0.1:100")},
		{ID: fakes[1], Addr: netip.MustParseAddrPort("[fe80::1%lo]:4717")},
	}
	for _, id := range fakes[2:] {
		lies = append(lies, wire.Contact{ID: id, Addr: attacker.LocalAddr()})
	}
	liar.setLies(lies)
	mustRespond(t, attacker, target, "before the lookup")
	if !victim.waitPeer(t, attacker.id.ID, netip.AddrPort{}, 10*time.Second) {
		t.Fatal("victim does not list the peer that pinged it")
	}

	checkLookupFinds(t, victim, identity.KeyID([]byte("lies")), honestContact.ID, attacker.id.ID)
	peers := victim.peers(t)
	for id, p := range peers {
		if id != honestContact.ID && id != attacker.id.ID {
			t.Errorf("victim lists %s at %s, a contact only the liar named", id.Short(), p.Addr)
		}
	}
	if p := peers[honestContact.ID]; p.Addr != honestContact.Addr.String() {
		t.Errorf("victim lists the honest node at %s, want %s", p.Addr, honestContact.Addr)
	}
	if n := victim.metrics(t)["yui_peer_id_mismatches_total"]; n < 1 {
		t.Errorf("yui_peer_id_mismatches_total = %v, want at least 1 for IDs the liar does not own", n)
	}

	// Contacts that wire.Contact.Validate rejects spoil the whole response.
	before := victim.metrics(t)[`yui_messages_dropped_total{reason="invalid"}`]
	liar.setLies([]wire.Contact{
		{ID: fakes[2], Addr: netip.MustParseAddrPort("224.0.0.1:4717")},
		{ID: fakes[3], Addr: netip.MustParseAddrPort("0.0.0.0:4717")},
	})
	checkLookupFinds(t, victim, identity.KeyID([]byte("invalid lies")), honestContact.ID)
	if after := victim.metrics(t)[`yui_messages_dropped_total{reason="invalid"}`]; after <= before {
		t.Errorf("invalid responses dropped: %v before the lookup, %v after; want more", before, after)
	}
	if _, listed := victim.peers(t)[fakes[2]]; listed {
		t.Error("victim lists a contact with a multicast address")
	}
}

// TestBreakPartialFramesMemory opens every stream one connection allows,
// announces a frame of the maximum size on each and sends all but its last
// byte. The node must not hold much more than the connection's flow-control
// window for one peer, 16 MiB.
func TestBreakPartialFramesMemory(t *testing.T) {
	ns := loopbackNS(t)
	victim := startDaemon(t, ns, "victim", filepath.Join(t.TempDir(), "victim"), loopbackArgs...)
	target := victim.contact(t)
	raw := newRawQUIC(t, ns)
	qc := raw.dial(t, target.Addr)
	before := victim.metrics(t)["process_resident_memory_bytes"]

	body := make([]byte, wire.MaxMessageSize-1)
	header := frame(make([]byte, wire.MaxMessageSize))[:4]
	var streams []*quic.Stream
	for {
		s, err := qc.OpenStream()
		if err != nil {
			break
		}
		streams = append(streams, s)
	}
	// One shared frame, built once: the streams only read it.
	payload := append(slices.Clip(header), body...)
	done := make(chan error, len(streams))
	for _, s := range streams {
		go func() {
			s.SetWriteDeadline(time.Now().Add(8 * time.Second))
			_, err := s.Write(payload)
			done <- err
		}()
	}
	sent := 0
	for range streams {
		if <-done == nil {
			sent++
		}
	}
	after := victim.metrics(t)["process_resident_memory_bytes"]
	t.Logf("%d of %d streams delivered %d KiB each; node RSS %d MiB before, %d MiB after",
		sent, len(streams), len(body)>>10, int(before)>>20, int(after)>>20)
	if grown := after - before; grown > 64<<20 {
		t.Errorf("one peer grew the node's memory by %d MiB with unfinished frames", int(grown)>>20)
	}
	mustRespond(t, startPeer(t, ns, "127.0.0.1:0", nil), target, "with partial frames pending")
}

// TestBreakConnectionExhaustion opens more connections to a node than it
// accepts, 1024, all from one socket under one node ID. A node that then
// bootstraps from the victim must still get in: one peer must not be able
// to take every connection slot.
func TestBreakConnectionExhaustion(t *testing.T) {
	ns := loopbackNS(t)
	victim := startDaemon(t, ns, "victim", filepath.Join(t.TempDir(), "victim"), loopbackArgs...)
	target := victim.contact(t)
	raw := newRawQUIC(t, ns)

	opened := 0
	for i := 0; i < 1100; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		qc, err := raw.qt.Dial(ctx, net.UDPAddrFromAddrPort(target.Addr), raw.tls, raw.conf)
		cancel()
		if err != nil {
			t.Fatalf("connection %d: %v", i+1, err)
		}
		t.Cleanup(func() { qc.CloseWithError(0, "test done") })
		opened++
	}
	t.Logf("opened %d connections; node reports %v", opened, victim.metrics(t)["yui_connections"])

	honest := startDaemon(t, ns, "honest", filepath.Join(t.TempDir(), "honest"),
		append(loopbackArgs, "--bootstrap", target.Addr.String())...)
	honestID := honest.waitStarted(t).ID
	if !victim.waitPeer(t, honestID, netip.AddrPort{}, 15*time.Second) {
		t.Fatalf("node bootstrapping from the victim did not get in while one peer held %d connections", opened)
	}
}

// TestBreakManyIDsOneSocket pings a node under 300 node IDs, all from one
// UDP socket, and then stops responding, as a Sybil attacker on the LAN
// would. A node listens on one socket under one ID, so the victim must
// keep at most one of these IDs, keep its honest contact and still finish
// a lookup promptly.
func TestBreakManyIDsOneSocket(t *testing.T) {
	ns := loopbackNS(t)
	victim := startDaemon(t, ns, "victim", filepath.Join(t.TempDir(), "victim"), loopbackArgs...)
	target := victim.contact(t)
	honest := startDaemon(t, ns, "honest", filepath.Join(t.TempDir(), "honest"),
		append(loopbackArgs, "--bootstrap", target.Addr.String())...)
	honestID := honest.waitStarted(t).ID
	if !victim.waitPeer(t, honestID, netip.AddrPort{}, startLimit) {
		t.Fatal("victim does not list the honest node that bootstrapped from it")
	}

	raw := newRawQUIC(t, ns)
	ping := frame(encode(t, 1, &wire.Ping{}))
	for i := range 300 {
		conf := raw.tls.Clone()
		conf.Certificates = []tls.Certificate{nodeCertificate(t, newIdentity(t))}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		qc, err := raw.qt.Dial(ctx, net.UDPAddrFromAddrPort(target.Addr), conf, raw.conf)
		cancel()
		if err != nil {
			t.Fatalf("connection %d: %v", i+1, err)
		}
		if _, err := rawExchange(qc, ping); err != nil {
			t.Fatalf("ping %d: %v", i+1, err)
		}
		qc.CloseWithError(0, "done")
	}

	peers := victim.peers(t)
	if _, listed := peers[honestID]; !listed {
		t.Error("victim evicted its honest contact")
	}
	atSocket := 0
	for _, p := range peers {
		if p.Addr == raw.qt.Conn.LocalAddr().String() {
			atSocket++
		}
	}
	t.Logf("victim lists %d contacts, %d of them at the attacker's socket", len(peers), atSocket)
	if atSocket > 1 {
		t.Errorf("victim lists %d node IDs at one socket, want at most 1", atSocket)
	}

	start := time.Now()
	checkLookupFinds(t, victim, identity.KeyID([]byte("after sybils")), honestID)
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("lookup took %v with the attacker's contacts in the table", took.Round(time.Millisecond))
	}
}
