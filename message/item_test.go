package message

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/seal"
)

func newUsers(t testing.TB) (alice, bob *seal.User) {
	t.Helper()
	a, err := seal.NewUser()
	if err != nil {
		t.Fatal(err)
	}
	b, err := seal.NewUser()
	if err != nil {
		t.Fatal(err)
	}
	return a, b
}

func TestMessageRoundTrip(t *testing.T) {
	alice, bob := newUsers(t)
	it, err := NewMessage(alice, bob.Public(), ID{7}, []byte("hello"), epoch, epoch.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(it.Raw)
	if err != nil {
		t.Fatal(err)
	}
	if got.Kind != KindMessage || got.ID != (ID{7}) {
		t.Errorf("decoded %v %v, want message %v", got.Kind, got.ID, ID{7})
	}
	if !bytes.Equal(got.From, alice.SigningKey()) || !bytes.Equal(got.To, bob.SigningKey()) {
		t.Error("decoded sender or recipient differs")
	}
	if !got.Created.Equal(epoch) || !got.Expires.Equal(epoch.Add(time.Hour)) {
		t.Errorf("decoded times %v to %v", got.Created, got.Expires)
	}
	text, err := got.Message.Open(bob)
	if err != nil || string(text) != "hello" {
		t.Errorf("Open = %q, %v; want hello", text, err)
	}
}

func TestMessageOpensOnlyForRecipient(t *testing.T) {
	alice, bob := newUsers(t)
	it, err := NewMessage(alice, bob.Public(), ID{1}, []byte("secret"), epoch, epoch.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := it.Message.Open(alice); !errors.Is(err, seal.ErrDecrypt) {
		t.Errorf("sender opening: %v, want ErrDecrypt", err)
	}
	if bytes.Contains(it.Raw, []byte("secret")) {
		t.Error("the signed message contains the plaintext")
	}
}

func TestReceiptRoundTrip(t *testing.T) {
	alice, bob := newUsers(t)
	msg, err := NewMessage(alice, bob.Public(), ID{9}, []byte("x"), epoch, epoch.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewReceipt(bob, msg, epoch.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(r.Raw)
	if err != nil {
		t.Fatal(err)
	}
	if got.Kind != KindReceipt || got.ID != msg.ID {
		t.Errorf("decoded %v %v, want receipt %v", got.Kind, got.ID, msg.ID)
	}
	if !bytes.Equal(got.To, alice.SigningKey()) || !bytes.Equal(got.From, bob.SigningKey()) {
		t.Error("receipt does not go from bob to alice")
	}
	if !got.Receipt.Delivered.Equal(epoch.Add(time.Minute)) {
		t.Errorf("delivered %v", got.Receipt.Delivered)
	}
}

func TestLocationRoundTrip(t *testing.T) {
	alice, _ := newUsers(t)
	node := wire.Contact{ID: identity.KeyID([]byte("n")), Addr: netip.MustParseAddrPort("127.0.0.1:4719")}
	l, err := NewLocation(alice, node, epoch, epoch.Add(10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeLocation(l.Raw)
	if err != nil {
		t.Fatal(err)
	}
	if got.Node != node || !bytes.Equal(got.User, alice.SigningKey()) {
		t.Errorf("decoded %v for %x", got.Node, got.User)
	}
	if got.Key() != UserKey(alice.SigningKey()) {
		t.Error("location key is not the user key")
	}
	if _, err := Decode(l.Raw); !errors.Is(err, ErrMalformed) {
		t.Errorf("Decode of a location: %v, want ErrMalformed", err)
	}
}

func TestDecodeRejectsTampering(t *testing.T) {
	alice, bob := newUsers(t)
	it, err := NewMessage(alice, bob.Public(), ID{1}, []byte("pay 10"), epoch, epoch.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var s signedItem
	if err := cbor.Unmarshal(it.Raw, &s); err != nil {
		t.Fatal(err)
	}

	// Any flipped bit of the body or signature breaks the signature.
	for _, i := range []int{0, len(s.Body) / 2, len(s.Body) - 1} {
		body := bytes.Clone(s.Body)
		body[i] ^= 0x01
		raw, err := encMode.Marshal(signedItem{Kind: s.Kind, Body: body, Signature: s.Signature})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Decode(raw); err == nil {
			t.Errorf("body byte %d flipped: Decode succeeded", i)
		}
	}
	sig := bytes.Clone(s.Signature)
	sig[0] ^= 0x80
	raw, _ := encMode.Marshal(signedItem{Kind: s.Kind, Body: s.Body, Signature: sig})
	if _, err := Decode(raw); !errors.Is(err, ErrBadSignature) {
		t.Errorf("bad signature: %v, want ErrBadSignature", err)
	}

	// A body signed as a receipt does not verify as a message.
	raw, _ = encMode.Marshal(signedItem{Kind: KindReceipt, Body: s.Body, Signature: s.Signature})
	if _, err := Decode(raw); err == nil {
		t.Error("message body relabelled as receipt: Decode succeeded")
	}
}

func TestDecodeRejectsBadInput(t *testing.T) {
	alice, bob := newUsers(t)
	it, err := NewMessage(alice, bob.Public(), ID{1}, []byte("x"), epoch, epoch.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		raw  []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"too large", make([]byte, wire.MaxMsgItemSize+1), ErrTooLarge},
		{"truncated", it.Raw[:len(it.Raw)-3], ErrMalformed},
		{"trailing byte", append(bytes.Clone(it.Raw), 0), ErrMalformed},
		{"not an array", []byte{0xa0}, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Decode(tt.raw); !errors.Is(err, tt.want) {
				t.Errorf("Decode = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestNewMessageRejects(t *testing.T) {
	alice, bob := newUsers(t)
	tests := []struct {
		name     string
		text     []byte
		lifetime time.Duration
		want     error
	}{
		{"text too large", make([]byte, MaxText+1), time.Hour, ErrTooLarge},
		{"expires at creation", []byte("x"), 0, ErrInvalid},
		{"lives too long", []byte("x"), MaxTTL + time.Millisecond, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewMessage(alice, bob.Public(), ID{}, tt.text, epoch, epoch.Add(tt.lifetime))
			if !errors.Is(err, tt.want) {
				t.Errorf("NewMessage = %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := NewMessage(alice, seal.PublicKeys{}, ID{}, nil, epoch, epoch.Add(time.Hour)); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty recipient keys: %v, want ErrInvalid", err)
	}
}

func TestParseID(t *testing.T) {
	id := ID{0xab, 1}
	got, err := ParseID(id.String())
	if err != nil || got != id {
		t.Errorf("ParseID(%s) = %v, %v", id, got, err)
	}
	for _, bad := range []string{"", "zz", strings.Repeat("a", 31), strings.Repeat("a", 34)} {
		if _, err := ParseID(bad); err == nil {
			t.Errorf("ParseID(%q) succeeded", bad)
		}
	}
}

func TestStatusRoundTrip(t *testing.T) {
	alice, bob := newUsers(t)
	msg, err := NewMessage(alice, bob.Public(), ID{4}, []byte("x"), epoch, epoch.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewReceipt(bob, msg, epoch.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []Status{
		{Item: msg, State: StateRejected, Error: "quota", Updated: epoch},
		{Item: msg, State: StateDelivered, Receipt: r, Updated: epoch},
		{Item: msg, State: StateHeld, Custodians: 3, Updated: epoch},
	} {
		b, err := EncodeStatus(st)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeStatus(b)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != st.State || got.Error != st.Error || got.Custodians != st.Custodians || !got.Updated.Equal(st.Updated) {
			t.Errorf("decoded %+v, want %+v", got, st)
		}
		if (got.Receipt == nil) != (st.Receipt == nil) {
			t.Errorf("receipt decoded as %v, want %v", got.Receipt != nil, st.Receipt != nil)
		}
	}

	// A receipt for another message is rejected.
	other, err := NewMessage(alice, bob.Public(), ID{5}, []byte("y"), epoch, epoch.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	b, err := EncodeStatus(Status{Item: other, State: StateDelivered, Receipt: r})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeStatus(b); !errors.Is(err, ErrInvalid) {
		t.Errorf("mismatched receipt: %v, want ErrInvalid", err)
	}
}

func FuzzDecode(f *testing.F) {
	alice, bob := newUsers(f)
	msg, err := NewMessage(alice, bob.Public(), ID{1}, []byte("fuzz"), epoch, epoch.Add(time.Hour))
	if err != nil {
		f.Fatal(err)
	}
	r, err := NewReceipt(bob, msg, epoch)
	if err != nil {
		f.Fatal(err)
	}
	node := wire.Contact{ID: identity.KeyID([]byte("n")), Addr: netip.MustParseAddrPort("127.0.0.1:4719")}
	l, err := NewLocation(alice, node, epoch, epoch.Add(time.Minute))
	if err != nil {
		f.Fatal(err)
	}
	st, err := EncodeStatus(Status{Item: msg, State: StateDelivered, Receipt: r, Updated: epoch})
	if err != nil {
		f.Fatal(err)
	}
	for _, raw := range [][]byte{msg.Raw, r.Raw, l.Raw, st} {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if it, err := Decode(raw); err == nil {
			again, err := Decode(it.Raw)
			if err != nil || again.Key() != it.Key() {
				t.Fatalf("accepted item does not decode again: %v", err)
			}
		}
		if l, err := DecodeLocation(raw); err == nil && !bytes.Equal(l.Raw, raw) {
			t.Fatal("location Raw differs from its input")
		}
		if st, err := DecodeStatus(raw); err == nil {
			again, err := EncodeStatus(st)
			if err != nil || !bytes.Equal(again, raw) {
				t.Fatalf("accepted status does not encode to its input: %v", err)
			}
		}
	})
}
