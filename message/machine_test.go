package message

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/seal"
)

func TestMachineDeliversDirectly(t *testing.T) {
	n := newTestNet(t, 5, Config{})
	alice := n.addUser(0, "alice")
	bob := n.addUser(3, "bob")

	it := n.send(0, alice, bob, "hello bob", time.Hour)

	if got := n.received(3, KindMessage, it.ID); got != 1 {
		t.Fatalf("bob's node received the message %d times, want 1", got)
	}
	if got := n.heldCount(it); got != 0 {
		t.Errorf("%d custodians hold a message delivered directly, want 0", got)
	}
	st := n.status(0, it)
	if st.State != StateDelivered {
		t.Errorf("sender sees %v, want delivered", st.State)
	}
	if st.Receipt == nil {
		t.Fatal("sender has no receipt")
	}
	if string(st.Receipt.From) != string(bob.SigningKey()) {
		t.Errorf("receipt signed by %x, want bob", st.Receipt.From)
	}
	text, err := n.nodes[3].inbox[0].Message.Open(bob)
	if err != nil || string(text) != "hello bob" {
		t.Errorf("bob opens %q, %v; want %q", text, err, "hello bob")
	}
}

func TestMachineLocalRecipient(t *testing.T) {
	n := newTestNet(t, 1, Config{})
	alice := n.addUser(0, "alice")
	bob := n.addUser(0, "bob")

	it := n.send(0, alice, bob, "same node", time.Hour)

	if got := n.received(0, KindMessage, it.ID); got != 1 {
		t.Fatalf("received %d times, want 1", got)
	}
	if st := n.status(0, it); st.State != StateDelivered || st.Receipt == nil {
		t.Errorf("status %v with receipt %v, want delivered with a receipt", st.State, st.Receipt != nil)
	}
}

func TestMachineHoldsForOfflineRecipient(t *testing.T) {
	n := newTestNet(t, 6, Config{})
	alice := n.addUser(0, "alice")
	bob := n.addUser(4, "bob")
	n.nodes[4].up = false

	it := n.send(0, alice, bob, "while you were away", time.Hour)

	st := n.status(0, it)
	if st.State != StateHeld {
		t.Fatalf("sender sees %v (%s), want held", st.State, st.Error)
	}
	if st.Custodians != 3 || n.heldCount(it) != 3 {
		t.Errorf("status says %d custodians, %d nodes hold it; want 3 and 3", st.Custodians, n.heldCount(it))
	}
	if got := n.received(4, KindMessage, it.ID); got != 0 {
		t.Fatalf("offline node received the message %d times", got)
	}

	// Bob's node returns and announces itself again.
	n.nodes[4].up = true
	n.advance(time.Minute)

	if got := n.received(4, KindMessage, it.ID); got != 1 {
		t.Fatalf("bob's node received the message %d times after returning, want 1", got)
	}
	if got := n.heldCount(it); got != 0 {
		t.Errorf("%d custodians still hold the delivered message", got)
	}
	st = n.status(0, it)
	if st.State != StateDelivered || st.Receipt == nil {
		t.Errorf("sender sees %v with receipt %v, want delivered with a receipt", st.State, st.Receipt != nil)
	}
}

func TestMachineReceiptWaitsForOfflineSender(t *testing.T) {
	n := newTestNet(t, 6, Config{})
	alice := n.addUser(0, "alice")
	bob := n.addUser(4, "bob")
	n.nodes[4].up = false
	it := n.send(0, alice, bob, "hi", time.Hour)

	// Alice's node goes away before bob's returns: the receipt is held.
	n.nodes[0].up = false
	n.nodes[4].up = true
	n.advance(time.Minute)
	if got := n.received(4, KindMessage, it.ID); got != 1 {
		t.Fatalf("bob's node received the message %d times, want 1", got)
	}
	if st := n.status(0, it); st.Receipt != nil {
		t.Fatal("offline sender has a receipt")
	}

	n.nodes[0].up = true
	n.advance(time.Minute)
	if st := n.status(0, it); st.State != StateDelivered || st.Receipt == nil {
		t.Errorf("sender sees %v with receipt %v, want delivered with a receipt", st.State, st.Receipt != nil)
	}
}

func TestMachineQuotaRejectsFlood(t *testing.T) {
	n := newTestNet(t, 4, Config{Quota: Quota{Items: 100, Bytes: 1 << 20, SenderItems: 2, SenderBytes: 1 << 20}})
	alice := n.addUser(0, "alice")
	bob := n.addUser(3, "bob")
	n.nodes[3].up = false

	var sent []*Item
	for range 3 {
		sent = append(sent, n.send(0, alice, bob, "flood", time.Hour))
	}

	for _, it := range sent[:2] {
		if st := n.status(0, it); st.State != StateHeld {
			t.Errorf("message within quota is %v (%s), want held", st.State, st.Error)
		}
	}
	st := n.status(0, sent[2])
	if st.State != StateRejected {
		t.Fatalf("message past quota is %v, want rejected", st.State)
	}
	if !strings.Contains(st.Error, "limit 2 per sender") {
		t.Errorf("refusal says %q, want it to name the per-sender limit", st.Error)
	}
	if got := n.heldCount(sent[2]); got != 0 {
		t.Errorf("%d nodes hold the rejected message", got)
	}
}

func TestMachineQuotaPerSender(t *testing.T) {
	n := newTestNet(t, 4, Config{Quota: Quota{Items: 100, Bytes: 1 << 20, SenderItems: 1, SenderBytes: 1 << 20}})
	alice := n.addUser(0, "alice")
	carol := n.addUser(1, "carol")
	bob := n.addUser(3, "bob")
	n.nodes[3].up = false

	a := n.send(0, alice, bob, "from alice", time.Hour)
	c := n.send(1, carol, bob, "from carol", time.Hour)

	for _, it := range []*Item{a, c} {
		i := 0
		if it == c {
			i = 1
		}
		if st := n.status(i, it); st.State != StateHeld {
			t.Errorf("first message of its sender is %v (%s), want held", st.State, st.Error)
		}
	}
}

func TestMachineDropsForged(t *testing.T) {
	n := newTestNet(t, 2, Config{})
	alice := n.addUser(0, "alice")
	bob := n.addUser(1, "bob")
	it, err := NewMessage(alice, bob.Public(), ID{1}, []byte("real"), n.now, n.now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	forged := slices.Clone(it.Raw)
	forged[len(forged)-1] ^= 1 // inside the signature

	for _, hold := range []bool{false, true} {
		resp := n.nodes[1].m.HandleRequest(n.now, n.nodes[0].contact.ID, &wire.MsgDeliver{Items: [][]byte{forged}, Hold: hold})
		ack := resp.(*wire.MsgAck)
		if ack.Results[0].Code != wire.MsgForged {
			t.Errorf("hold=%v: forged item answered %d, want MsgForged", hold, ack.Results[0].Code)
		}
	}
	events := n.nodes[1].m.Events()
	if len(events) != 2 || events[0].Kind != Rejected || events[1].Kind != Rejected {
		t.Fatalf("events %+v, want two rejections", events)
	}
	if len(n.nodes[1].m.held) != 0 || len(n.nodes[1].m.received) != 0 {
		t.Error("node kept a forged item")
	}
	if c := n.nodes[1].m.Counters(); c.Forged != 2 {
		t.Errorf("forged counter %d, want 2", c.Forged)
	}
}

func TestMachineRejectsForgedLocation(t *testing.T) {
	n := newTestNet(t, 2, Config{})
	mallory := n.addUser(0, "mallory")
	bob := n.addUser(1, "bob")
	loc, err := NewLocation(mallory, n.nodes[0].contact, n.now, n.now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	// Swap bob's key in: the signature no longer matches.
	raw := slices.Clone(loc.Raw)
	i := strings.Index(string(raw), string(mallory.SigningKey()))
	copy(raw[i:], bob.SigningKey())

	resp := n.nodes[1].m.HandleRequest(n.now, n.nodes[0].contact.ID, &wire.UserAnnounce{Record: raw})
	if code := resp.(*wire.MsgAck).Results[0].Code; code != wire.MsgForged {
		t.Errorf("forged location answered %d, want MsgForged", code)
	}
}

func TestMachineExpiryReleasesHeld(t *testing.T) {
	n := newTestNet(t, 4, Config{})
	alice := n.addUser(0, "alice")
	bob := n.addUser(3, "bob")
	n.nodes[3].up = false
	it := n.send(0, alice, bob, "short-lived", 10*time.Minute)
	if n.heldCount(it) == 0 {
		t.Fatal("nobody holds the message")
	}

	n.advance(11 * time.Minute)

	if got := n.heldCount(it); got != 0 {
		t.Errorf("%d nodes hold an expired message", got)
	}
	if _, ok := n.nodes[0].m.Status(it.Key()); ok {
		t.Error("sender still tracks an expired message")
	}
	n.nodes[3].up = true
	n.advance(time.Minute)
	if got := n.received(3, KindMessage, it.ID); got != 0 {
		t.Errorf("expired message delivered %d times", got)
	}
}

func TestMachineRejectsExpiredItem(t *testing.T) {
	n := newTestNet(t, 2, Config{})
	alice := n.addUser(0, "alice")
	bob := n.addUser(1, "bob")
	it, err := NewMessage(alice, bob.Public(), ID{2}, []byte("old"), n.now.Add(-2*time.Hour), n.now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	resp := n.nodes[1].m.HandleRequest(n.now, n.nodes[0].contact.ID, &wire.MsgDeliver{Items: [][]byte{it.Raw}})
	if code := resp.(*wire.MsgAck).Results[0].Code; code != wire.MsgExpired {
		t.Errorf("expired message answered %d, want MsgExpired", code)
	}
	if err := n.nodes[0].m.Send(n.now, it); err == nil {
		t.Error("Send accepted an expired message")
	}
}

func TestMachineNotHere(t *testing.T) {
	n := newTestNet(t, 2, Config{})
	alice := n.addUser(0, "alice")
	bob := n.addUser(1, "bob")
	it, err := NewMessage(alice, bob.Public(), ID{3}, []byte("x"), n.now, n.now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	resp := n.nodes[0].m.HandleRequest(n.now, n.nodes[1].contact.ID, &wire.MsgDeliver{Items: [][]byte{it.Raw}})
	if code := resp.(*wire.MsgAck).Results[0].Code; code != wire.MsgNotHere {
		t.Errorf("message for a user of another node answered %d, want MsgNotHere", code)
	}
}

func TestMachineDuplicateDeliveredOnce(t *testing.T) {
	n := newTestNet(t, 3, Config{})
	alice := n.addUser(0, "alice")
	bob := n.addUser(2, "bob")
	it := n.send(0, alice, bob, "once", time.Hour)

	resp := n.nodes[2].m.HandleRequest(n.now, n.nodes[1].contact.ID, &wire.MsgDeliver{Items: [][]byte{it.Raw}})
	if code := resp.(*wire.MsgAck).Results[0].Code; code != wire.MsgDuplicate {
		t.Errorf("second copy answered %d, want MsgDuplicate", code)
	}
	n.settle()
	if got := n.received(2, KindMessage, it.ID); got != 1 {
		t.Errorf("received %d times, want 1", got)
	}
}

func TestMachineRetriesWithoutPeers(t *testing.T) {
	n := newTestNet(t, 3, Config{})
	alice := n.addUser(0, "alice")
	bob := n.addUser(2, "bob")
	for _, node := range n.nodes[1:] {
		node.up = false
	}

	it := n.send(0, alice, bob, "anyone there?", time.Hour)
	// With only itself among the custodians, the sender's node holds it.
	if st := n.status(0, it); st.State != StateHeld || st.Custodians != 1 {
		t.Fatalf("status %v with %d custodians, want held by 1", st.State, st.Custodians)
	}

	n.nodes[2].up = true
	n.advance(time.Minute)
	if got := n.received(2, KindMessage, it.ID); got != 1 {
		t.Errorf("received %d times, want 1", got)
	}
}

func TestMachineDeterministic(t *testing.T) {
	alice, err := seal.NewUser()
	if err != nil {
		t.Fatal(err)
	}
	bob, err := seal.NewUser()
	if err != nil {
		t.Fatal(err)
	}
	run := func() []string {
		n := newTestNet(t, 6, Config{})
		n.placeUser(0, alice)
		n.placeUser(4, bob)
		n.nodes[4].up = false
		n.send(0, alice, bob, "a", time.Hour)
		n.nodes[4].up = true
		n.advance(time.Minute)
		return n.log
	}
	a, b := run(), run()
	if !slices.Equal(a, b) {
		t.Errorf("two runs sent different requests:\n%s\n--\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
	}
	if len(a) == 0 {
		t.Error("the run sent no requests")
	}
}

// TestMachineDeadlineWhileWaiting checks that requests in flight leave no
// deadline in the past, which would make the caller tick in a busy loop.
func TestMachineDeadlineWhileWaiting(t *testing.T) {
	// Cached lookups make announcements start at once on Tick.
	n := newTestNet(t, 4, Config{ClosestTTL: time.Hour})
	alice := n.addUser(0, "alice")
	bob := n.addUser(3, "bob")
	m := n.nodes[0].m

	n.now = n.now.Add(2 * time.Minute)
	m.Tick(n.now)
	for _, target := range m.Lookups() {
		m.HandleClosest(n.now, target, n.upContacts())
	}
	it, err := NewMessage(alice, bob.Public(), ID{9}, []byte("x"), n.now, n.now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Send(n.now, it); err != nil {
		t.Fatal(err)
	}
	if len(m.Outbox()) == 0 {
		t.Fatal("no requests in flight")
	}

	m.Tick(n.now)
	if d := m.NextDeadline(); !d.After(n.now) {
		t.Errorf("next deadline %v is not after now %v while requests are in flight", d, n.now)
	}
}

func TestMachineRetriesAfterErrorResponse(t *testing.T) {
	alice, bob := newUsers(t)
	n := newTestNet(t, 3, Config{})
	contacts := n.upContacts()
	target := UserKey(alice.SigningKey())
	slices.SortFunc(contacts, func(a, b wire.Contact) int { return compareDistance(target, a.ID, b.ID) })
	// The sender is the farthest node, so that it is no custodian itself.
	m := New(Config{Self: contacts[2], Copies: 2})
	it, err := NewMessage(bob, alice.Public(), ID{8}, []byte("x"), epoch, epoch.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Send(epoch, it); err != nil {
		t.Fatal(err)
	}

	holds := 0
	for range 10 {
		for _, target := range m.Lookups() {
			m.HandleClosest(epoch, target, contacts[:2])
		}
		for _, o := range m.Outbox() {
			if d, ok := o.Msg.(*wire.MsgDeliver); ok && d.Hold {
				holds++
			}
			// A node that is starting sends an error, not an ack.
			m.HandleResponse(epoch, o.Request, &wire.Error{Code: wire.CodeOverloaded, Message: "node is starting"})
		}
	}
	if holds != 2 {
		t.Errorf("sent %d hold requests, want 2", holds)
	}
	st, _ := m.Status(it.Key())
	if st.State != StatePending {
		t.Errorf("after error responses the message is %v (%s), want pending", st.State, st.Error)
	}
	if d := m.NextDeadline(); d.IsZero() || !d.After(epoch) {
		t.Errorf("next deadline %v, want a retry after %v", d, epoch)
	}
}
