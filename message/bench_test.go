package message

import (
	"testing"
	"time"
)

func BenchmarkNewMessage(b *testing.B) {
	alice, bob := newUsers(b)
	text := make([]byte, 1024)
	for b.Loop() {
		if _, err := NewMessage(alice, bob.Public(), ID{1}, text, epoch, epoch.Add(time.Hour)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	alice, bob := newUsers(b)
	it, err := NewMessage(alice, bob.Public(), ID{1}, make([]byte, 1024), epoch, epoch.Add(time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Decode(it.Raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMachineHold(b *testing.B) {
	n := newTestNet(b, 8, Config{Quota: Quota{Items: 1 << 30, Bytes: 1 << 40, SenderItems: 1 << 30, SenderBytes: 1 << 40}})
	alice := n.addUser(0, "alice")
	bob := n.addUser(7, "bob")
	n.nodes[7].up = false
	items := make([]*Item, b.N)
	for i := range items {
		var id ID
		id[0], id[1], id[2], id[3] = byte(i), byte(i>>8), byte(i>>16), byte(i>>24)
		it, err := NewMessage(alice, bob.Public(), id, []byte("x"), n.now, n.now.Add(time.Hour))
		if err != nil {
			b.Fatal(err)
		}
		items[i] = it
	}
	b.ResetTimer()
	for _, it := range items {
		if err := n.nodes[0].m.Send(n.now, it); err != nil {
			b.Fatal(err)
		}
		n.settle()
	}
}
