package kademlia

import (
	"testing"
	"time"

	"github.com/yuinet/yui/network/wire"
)

// FuzzHandleMessage feeds decoded peer messages to a Machine with a
// populated table and a lookup in flight, as a request and as the response
// to each pending request, and checks that it neither panics nor breaks
// the table's invariants.
func FuzzHandleMessage(f *testing.F) {
	seeds := []wire.Message{
		&wire.Ping{},
		&wire.Pong{Observed: addrN(3)},
		&wire.FindNode{Target: idAt(2, 5), Path: []wire.Contact{contactAt(1, 1), contactAt(6, 2)}},
		&wire.Nodes{Contacts: []wire.Contact{contactAt(0, 7), contactAt(0, 8), contactAt(3, 9)}},
		&wire.Leave{},
		&wire.Error{Code: wire.CodeOverloaded, Message: "busy"},
	}
	for i, msg := range seeds {
		b, err := wire.Encode(uint64(i), msg)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), b)
	}

	f.Fuzz(func(t *testing.T, sender uint8, data []byte) {
		id, msg, err := wire.Decode(data)
		if err != nil {
			return
		}
		m := newTestMachine(Config{K: 4})
		for i := range 12 {
			hear(t, m, t0, contactAt(i%5, uint16(i)))
		}
		m.Lookup(t0, idAt(int(sender)%5, 3))
		m.Outbox()

		from := contactAt(int(sender)%5, uint16(sender)%12)
		now := t0.Add(time.Millisecond)
		m.HandleRequest(now, from, id, msg)
		for _, r := range append([]request(nil), m.pending...) {
			m.HandleResponse(now, r.to, r.id, msg)
		}
		m.Tick(now.Add(time.Hour))
		if err := checkInvariants(m); err != nil {
			t.Fatal(err)
		}
	})
}
