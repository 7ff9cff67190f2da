package store

import (
	"bytes"
	"context"
	"testing"

	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/engine"
)

// FuzzParseDescriptor feeds arbitrary bytes to ParseDescriptor, as a
// holder receives them in PutNamespace: it must never panic, and what it
// accepts must verify again from its own encoding. Run it with
// -fuzzminimizetime 1000x, because by default go test minimizes each new
// input of about 570 bytes for up to 60 s and the execution count on the
// progress line does not change meanwhile.
func FuzzParseDescriptor(f *testing.F) {
	c := newCluster(f, 1, smallParams(1, 0, 1))
	_, d := sealedRecord(f, c.node(0), "fuzz", "k", "v")
	f.Add(d.Bytes())
	if err := c.node(0).store.SetPlacement(context.Background(), "", "fuzz", PlaceCluster); err != nil {
		f.Fatal(err)
	}
	placed, err := c.node(0).store.descriptor(context.Background(), "fuzz", false)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(placed.Bytes())
	f.Add([]byte{})
	f.Add([]byte{0x82, 0x40, 0x40})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := ParseDescriptor(b, nil)
		if err != nil {
			return
		}
		if _, err := ParseDescriptor(got.Bytes(), nil); err != nil {
			t.Fatalf("accepted descriptor does not parse again: %v", err)
		}
	})
}

// FuzzRecordHead decodes arbitrary bytes as a stored record head, in the
// compact or the CBOR form, as a holder reads its own possibly damaged
// store.
func FuzzRecordHead(f *testing.F) {
	good, err := marshal("head", &storedHead{Version: 3, Writer: make([]byte, 32), Blob: &blobRef{Inline: []byte("r")}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	packed, err := marshal("head", &storedHead{Version: 3, Table: []byte("S1234567"), Index: 9})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(packed)
	f.Add([]byte{0x85})
	f.Add(encodeCompactHead(&storedHead{Version: 3, Table: []byte("S1234567"), Index: 9}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if h, ok := parseCompactHead(b); ok {
			if again := encodeCompactHead(&h); !bytes.Equal(again, b) {
				t.Fatalf("compact head %x encodes again as %x", b, again)
			}
			return
		}
		var h storedHead
		if err := unmarshal("record head", b, engine.MaxMetaValueSize, &h); err != nil {
			return
		}
		if _, err := marshal("head", &h); err != nil {
			t.Fatalf("decoded head does not encode: %v", err)
		}
	})
}

// FuzzHolder hands a holder every storage message that the wire decoder
// accepts from arbitrary bytes: the holder must respond without panicking.
func FuzzHolder(f *testing.F) {
	c := newCluster(f, 1, smallParams(1, 0, 1))
	n := c.node(0)
	msg, d := sealedRecord(f, n, "fuzz", "k", "v")
	for _, m := range []wire.Message{
		msg,
		&wire.PutNamespace{Namespace: "fuzz", Descriptor: d.Bytes()},
		&wire.GetRecord{Namespace: "fuzz", KeyHash: wire.Hash{1}},
		&wire.ListRecords{Namespace: "fuzz", Limit: 3},
		&wire.ListShards{Chunks: []wire.Hash{{1}}},
		&wire.GetShard{Chunk: wire.Hash{1}},
		&wire.PutShard{Chunk: wire.Hash{1}, Shard: []byte{1}},
	} {
		b, err := wire.Encode(1, m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, m, err := wire.Decode(b)
		if err != nil {
			return
		}
		resp := n.holder.HandleMessage(context.Background(), transportPeer(n.Self()), m)
		if resp == nil {
			return
		}
		if _, err := wire.Encode(1, resp); err != nil {
			t.Fatalf("holder response to %v does not encode: %v", m.Type(), err)
		}
	})
}
