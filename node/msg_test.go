package node

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/storage/seal"
)

// TestMsgBetweenNodes sends a message from one in-process node's user to
// another's over QUIC, then restarts both nodes: the inbox and the sent
// message with its receipt survive.
func TestMsgBetweenNodes(t *testing.T) {
	dirA, dirB := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	a := startLocal(t, dirA)
	b := startLocal(t, dirB, a.Addr().String())
	bob, err := b.storage.store.CreateUser("bob")
	if err != nil {
		t.Fatal(err)
	}
	clientA, clientB := api.NewClient(a.APIAddr()), api.NewClient(b.APIAddr())
	ctx := context.Background()

	// Until bob's node has announced bob, a send may be held instead of
	// delivered; either way it must reach bob.
	waitFor(t, "bob's node to know bob", func() bool { return b.msgs.Load().userName(signingKey(t, bob.Keys)) == "bob" })
	m, err := clientA.SendMessage(ctx, api.SendMessageRequest{To: bob.Keys, Text: "hello bob", ToName: "Bob at the farm"})
	if err != nil {
		t.Fatal(err)
	}
	if m.State == "rejected" || m.From != "default" || m.ToUser != "" {
		t.Fatalf("send returned %+v, want a message from default to a user of another node", m)
	}
	if m.ToName != "Bob at the farm" {
		t.Errorf("send returned to_name %q, want the name given", m.ToName)
	}
	waitFor(t, "the message in bob's inbox", func() bool {
		list, err := clientB.Inbox(ctx, "bob")
		return err == nil && len(list) == 1 && list[0].Text == "hello bob" && list[0].ID == m.ID
	})
	// A receipt that failed to reach the sender, as a request can time out
	// on a loaded machine, waits until the sender's node is no longer
	// skipped as down (DownFor, 30 s by default), or is held by custodians
	// until the sender's node announces its users again (AnnounceInterval,
	// 1 min). Under load both can happen, hence the 100 s.
	waitWithin(t, "the receipt at the sender", 100*time.Second, func() bool {
		list, err := clientA.SentMessages(ctx, "default")
		return err == nil && len(list) == 1 && list[0].Receipt != nil && list[0].State == "delivered"
	})

	a.Close()
	b.Close()
	a = startLocal(t, dirA)
	b = startLocal(t, dirB, a.Addr().String())
	clientA, clientB = api.NewClient(a.APIAddr()), api.NewClient(b.APIAddr())
	inbox, err := clientB.Inbox(ctx, "bob")
	if err != nil || len(inbox) != 1 || inbox[0].Text != "hello bob" {
		t.Errorf("bob's inbox after a restart: %+v, %v; want the message", inbox, err)
	}
	sent, err := clientA.SentMessages(ctx, "")
	if err != nil || len(sent) != 1 || sent[0].Receipt == nil || sent[0].Text != "hello bob" {
		t.Errorf("sent messages after a restart: %+v, %v; want the message with its receipt", sent, err)
	}
	if len(sent) == 1 && sent[0].ToName != "Bob at the farm" {
		t.Errorf("sent message after a restart has to_name %q, want the name given", sent[0].ToName)
	}
}

func TestMsgSendRejectsBadRequests(t *testing.T) {
	n := startLocal(t, filepath.Join(t.TempDir(), "n"))
	client := api.NewClient(n.APIAddr())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	keys, err := n.storage.store.PublicUser("")
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		req  api.SendMessageRequest
		want string
	}{
		{"no recipient keys", api.SendMessageRequest{Text: "x"}, "recipient keys"},
		{"unknown sender", api.SendMessageRequest{User: "nobody", To: keys.Keys, Text: "x"}, "unknown user"},
		{"invalid sender name", api.SendMessageRequest{User: "Bad Name", To: keys.Keys, Text: "x"}, "user name"},
		{"negative ttl", api.SendMessageRequest{To: keys.Keys, Text: "x", TTLSeconds: -1}, "ttl_seconds"},
		{"ttl overflowing a duration", api.SendMessageRequest{To: keys.Keys, Text: "x", TTLSeconds: 1 << 62}, "ttl_seconds"},
		{"text too large", api.SendMessageRequest{To: keys.Keys, Text: strings.Repeat("x", 17<<10)}, "limit 16384"},
		{"recipient name too long", api.SendMessageRequest{To: keys.Keys, Text: "x", ToName: strings.Repeat("b", 65)}, "to_name of 65 bytes"},
		{"recipient name with a newline", api.SendMessageRequest{To: keys.Keys, Text: "x", ToName: "bob\n"}, "printable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client.SendMessage(ctx, tt.req)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("send = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// signingKey returns the signing key inside encoded public keys.
func signingKey(t *testing.T, keys []byte) []byte {
	t.Helper()
	p, err := seal.ParsePublicKeys(keys)
	if err != nil {
		t.Fatal(err)
	}
	return p.Signing
}

func TestMsgListsRejectUnknownUser(t *testing.T) {
	n := startLocal(t, filepath.Join(t.TempDir(), "n"))
	client := api.NewClient(n.APIAddr())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	if _, err := client.Inbox(ctx, "carol"); err == nil || !strings.Contains(err.Error(), `unknown user "carol"`) {
		t.Errorf("inbox of carol = %v, want an error naming the unknown user", err)
	}
	if _, err := client.SentMessages(ctx, "carol"); err == nil || !strings.Contains(err.Error(), `unknown user "carol"`) {
		t.Errorf("sent of carol = %v, want an error naming the unknown user", err)
	}
	if _, err := client.Inbox(ctx, "Bad Name"); err == nil || !strings.Contains(err.Error(), "user name") {
		t.Errorf("inbox of an invalid name = %v, want an error naming the user name", err)
	}

	if _, err := client.CreateUser(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	list, err := client.Inbox(ctx, "bob")
	if err != nil {
		t.Fatalf("inbox of bob: %v", err)
	}
	if len(list) != 0 {
		t.Errorf("inbox of a new user lists %d messages, want 0", len(list))
	}
	all, err := client.Inbox(ctx, "")
	if err != nil {
		t.Fatalf("inbox of every user: %v", err)
	}
	if len(all) != 0 {
		t.Errorf("inbox of a new node lists %d messages, want 0", len(all))
	}
}
