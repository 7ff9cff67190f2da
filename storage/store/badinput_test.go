package store

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/erasure"
	"github.com/yuinet/yui/storage/seal"
)

func TestGatewayRejectsBadInput(t *testing.T) {
	params := smallParams(2, 2, 3)
	params.Chunking.Size = 64 // so that a value of MaxChunks chunks is small
	c := newCluster(t, 4, params)
	ctx := context.Background()
	s := c.node(0).store
	if _, err := s.Put(ctx, "", "ns", "kept", strings.NewReader("original"), PutOptions{}); err != nil {
		t.Fatal(err)
	}

	tooManyChunks := bytes.NewReader(make([]byte, 64*seal.MaxChunks+1))
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"key too long", func() error {
			_, err := s.Put(ctx, "", "ns", strings.Repeat("k", seal.MaxKeyLen+1), strings.NewReader("v"), PutOptions{})
			return err
		}, ErrInvalid},
		{"empty key", func() error {
			_, err := s.Put(ctx, "", "ns", "", strings.NewReader("v"), PutOptions{})
			return err
		}, ErrInvalid},
		{"key with NUL", func() error {
			_, err := s.Put(ctx, "", "ns", "a\x00b", strings.NewReader("v"), PutOptions{})
			return err
		}, ErrInvalid},
		{"invalid namespace", func() error {
			_, err := s.Put(ctx, "", "Bad Name", "k", strings.NewReader("v"), PutOptions{})
			return err
		}, ErrInvalid},
		{"invalid user", func() error {
			_, err := s.Put(ctx, "../etc", "ns", "k", strings.NewReader("v"), PutOptions{})
			return err
		}, ErrInvalid},
		{"unknown user", func() error {
			_, err := s.Put(ctx, "nobody", "ns", "k", strings.NewReader("v"), PutOptions{})
			return err
		}, ErrUnknownUser},
		{"content type too long", func() error {
			_, err := s.Put(ctx, "", "ns", "k", strings.NewReader("v"), PutOptions{ContentType: strings.Repeat("x", 300)})
			return err
		}, ErrInvalid},
		{"value with too many chunks", func() error {
			_, err := s.Put(ctx, "", "ns", "huge", tooManyChunks, PutOptions{})
			return err
		}, ErrInvalid},
		{"invalid group name", func() error {
			_, err := s.Put(ctx, "", "ns", "k", strings.NewReader("v"), PutOptions{Groups: map[string]map[string][]byte{"header": {"a": nil}}})
			return err
		}, ErrInvalid},
		{"reserved group name", func() error {
			_, err := s.Put(ctx, "", "ns", "k", strings.NewReader("v"), PutOptions{Groups: map[string]map[string][]byte{metaGroup: {"a": nil}}})
			return err
		}, ErrInvalid},
		{"batch value too large", func() error {
			_, err := s.PutBatch(ctx, "", "ns", []BatchRecord{{Key: "b", Value: make([]byte, MaxBatchValue+1)}})
			return err
		}, ErrInvalid},
		{"batch with a repeated key", func() error {
			_, err := s.PutBatch(ctx, "", "ns", []BatchRecord{{Key: "b"}, {Key: "b"}})
			return err
		}, ErrInvalid},
		{"get of a missing namespace", func() error {
			_, err := s.Get(ctx, "", "missing", "k", &bytes.Buffer{}, GetOptions{})
			return err
		}, ErrNotFound},
		{"grant of an unknown right", func() error {
			pub, _ := s.PublicUser("")
			return s.Grant(ctx, "", "ns", "", pub, "admin")
		}, ErrInvalid},
		{"grant with bad keys", func() error {
			return s.Grant(ctx, "", "ns", "", PublicUser{Name: "x", Keys: []byte{1, 2}}, Read)
		}, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, tt.want) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
		})
	}

	// Nothing changed.
	var b bytes.Buffer
	if _, err := s.Get(ctx, "", "ns", "kept", &b, GetOptions{}); err != nil || b.String() != "original" {
		t.Fatalf("Get kept = %q, %v; want original", b.String(), err)
	}
	list, err := s.List(ctx, "", "ns", "")
	if err != nil || len(list) != 1 {
		t.Fatalf("List after rejected writes = %d records, %v; want 1", len(list), err)
	}
}

// sealedRecord returns a valid record version of key signed by the
// default user of node n, and the namespace's descriptor.
func sealedRecord(t testing.TB, n *testNode, ns, key, value string) (*wire.PutRecord, *Descriptor) {
	t.Helper()
	ctx := context.Background()
	v, err := n.store.resolve(ctx, "", ns, Write, true)
	if err != nil {
		t.Fatal(err)
	}
	dr := &draft{key: key, size: uint64(len(value))}
	if err := n.store.inlineValue(v, []byte(value), dr); err != nil {
		t.Fatal(err)
	}
	dr.groups = map[string]map[string][]byte{"public": {"t": []byte("20")}}
	rec, env, err := n.store.sealRecord(v, n.store.clock.next(), dr)
	if err != nil {
		t.Fatal(err)
	}
	dir := DirectoryOf(env.Record.KeyHash, v.d.Params().DirBits)
	return &wire.PutRecord{Namespace: ns, Dir: dir, Record: *rec}, v.d
}

func TestHolderRejectsTampering(t *testing.T) {
	c := newCluster(t, 1, smallParams(1, 0, 1))
	n := c.node(0)
	msg, _ := sealedRecord(t, n, "ns", "k", "value")
	h := n.holder
	put := func(m *wire.PutRecord) wire.Message {
		return h.HandleMessage(context.Background(), transportPeer(n.Self()), m)
	}
	tamper := func(f func(r *wire.Record)) *wire.PutRecord {
		m := *msg
		m.Record.Envelope = bytes.Clone(msg.Record.Envelope)
		m.Record.Header = bytes.Clone(msg.Record.Header)
		m.Record.Inline = bytes.Clone(msg.Record.Inline)
		m.Record.Groups = map[string][]byte{"public": bytes.Clone(msg.Record.Groups["public"])}
		f(&m.Record)
		return &m
	}

	tests := []struct {
		name string
		msg  *wire.PutRecord
		want wire.ErrorCode
	}{
		{"header ciphertext", tamper(func(r *wire.Record) { r.Header[len(r.Header)-1] ^= 1 }), wire.CodeBadRequest},
		{"inline value", tamper(func(r *wire.Record) { r.Inline[0] ^= 1 }), wire.CodeBadRequest},
		{"group ciphertext", tamper(func(r *wire.Record) { r.Groups["public"][0] ^= 1 }), wire.CodeBadRequest},
		{"missing group", tamper(func(r *wire.Record) { delete(r.Groups, "public") }), wire.CodeBadRequest},
		{"signature", tamper(func(r *wire.Record) { r.Envelope[len(r.Envelope)-1] ^= 1 }), wire.CodeForbidden},
		{"wrong directory", func() *wire.PutRecord { m := *msg; m.Dir = 7; return &m }(), wire.CodeBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := put(tt.msg)
			e, ok := resp.(*wire.Error)
			if !ok || e.Code != tt.want {
				t.Fatalf("PutRecord = %#v, want error code %d", resp, tt.want)
			}
		})
	}
	if got := h.Stats().MetaEntries; got != 1 {
		t.Errorf("holder keeps %d metadata entries after rejected writes, want 1 (the descriptor)", got)
	}
	if _, ok := put(msg).(*wire.Ack); !ok {
		t.Fatal("untampered record was rejected")
	}
	if _, ok := put(msg).(*wire.Ack); !ok {
		t.Fatal("repeated PutRecord was not acknowledged")
	}
	if got := h.Stats().RecordsWritten; got != 1 {
		t.Errorf("RecordsWritten = %d after a put and its retry, want 1", got)
	}

	shards, err := erasure.Encode(erasure.Params{Data: 1, Parity: 1}, []byte("chunk"))
	if err != nil {
		t.Fatal(err)
	}
	shards[0].Payload[0] ^= 1
	b, err := erasure.MarshalShard(shards[0])
	if err != nil {
		t.Fatal(err)
	}
	resp := h.HandleMessage(context.Background(), transportPeer(n.Self()), &wire.PutShard{Chunk: wire.Hash{1}, Shard: b})
	if e, ok := resp.(*wire.Error); !ok || e.Code != wire.CodeBadRequest {
		t.Errorf("PutShard of a damaged shard = %#v, want CodeBadRequest", resp)
	}
}

func TestWriteWithoutRights(t *testing.T) {
	c := newCluster(t, 3, smallParams(1, 1, 2))
	ctx := context.Background()
	alice, mallory := c.node(0), c.node(1)
	if _, err := alice.store.Put(ctx, "", "alice", "k", strings.NewReader("mine"), PutOptions{}); err != nil {
		t.Fatal(err)
	}

	if _, err := mallory.store.Put(ctx, "", "alice", "k", strings.NewReader("theirs"), PutOptions{}); !errors.Is(err, ErrForbidden) {
		t.Fatalf("Put by a non-writer = %v, want ErrForbidden", err)
	}
	if err := mallory.store.Delete(ctx, "", "alice", "k"); !errors.Is(err, ErrForbidden) {
		t.Fatalf("Delete by a non-writer = %v, want ErrForbidden", err)
	}
	pub, err := mallory.store.PublicUser("")
	if err != nil {
		t.Fatal(err)
	}
	if err := mallory.store.Grant(ctx, "", "alice", "", pub, Write); !errors.Is(err, ErrForbidden) {
		t.Fatalf("Grant by a non-owner = %v, want ErrForbidden", err)
	}

	// A tombstone signed by mallory for alice's namespace, sent straight
	// to a holder, is rejected as well.
	u, err := mallory.store.LoadUser("")
	if err != nil {
		t.Fatal(err)
	}
	id := seal.RecordID{Namespace: "alice", KeyHash: seal.Hash{7}, Version: 1 << 40}
	env, err := seal.SignEnvelope(u, seal.NewTombstone(id))
	if err != nil {
		t.Fatal(err)
	}
	msg := &wire.PutRecord{Namespace: "alice", Record: wire.Record{Envelope: env}}
	checked := 0
	for _, n := range c.live() {
		resp := n.holder.HandleMessage(ctx, transportPeer(mallory.Self()), msg)
		if e, ok := resp.(*wire.Error); ok && e.Code == wire.CodeNotFound {
			continue // this node holds nothing of alice's namespace
		}
		if e, ok := resp.(*wire.Error); !ok || e.Code != wire.CodeForbidden {
			t.Fatalf("holder answered %#v to a forged record, want CodeForbidden", resp)
		}
		if n.holder.Stats().Rejected[RejectForbidden] == 0 {
			t.Error("holder did not count the forbidden write")
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no holder of alice's namespace was asked")
	}

	var b bytes.Buffer
	if _, err := alice.store.Get(ctx, "", "alice", "k", &b, GetOptions{}); err != nil || b.String() != "mine" {
		t.Fatalf("Get after rejected writes = %q, %v; want mine", b.String(), err)
	}
}

// TestCreateNamespaceRace has a second gateway create a namespace that
// another created first, as if both had found it missing at once: the
// holders keep the first descriptor and the loser gets ErrForbidden.
func TestCreateNamespaceRace(t *testing.T) {
	c := newCluster(t, 3, smallParams(1, 1, 2))
	ctx := context.Background()
	first, second := c.node(0).store, c.node(1).store
	if _, err := first.Put(ctx, "", "race", "k", strings.NewReader("first"), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	u, err := second.LoadUser("")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := second.createNamespace(ctx, u, "race"); !errors.Is(err, ErrForbidden) {
		t.Fatalf("second creation = %v, want ErrForbidden", err)
	}
	var b bytes.Buffer
	if _, err := first.Get(ctx, "", "race", "k", &b, GetOptions{}); err != nil || b.String() != "first" {
		t.Fatalf("first owner's Get = %q, %v", b.String(), err)
	}
}
