package alert

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/yuinet/yui/network/wire"
)

func TestSignDecodeRoundTrip(t *testing.T) {
	s := testSigner("city", 1)
	a := Alert{
		Sequence: 7,
		Level:    Warning,
		Area:     &Area{Center: &Point{Lat: 35.68, Lon: 139.76}, Radius: 2500},
		Issued:   epoch,
		Expires:  epoch.Add(2 * time.Hour),
		Text:     "Tsunami warning: move to high ground.",
	}
	signed, err := Sign(a, s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(signed.Raw)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != signed.ID {
		t.Errorf("ID = %s, want %s", got.ID, signed.ID)
	}
	if got.Authority != "city" || got.KeyID != s.Authority().KeyID() {
		t.Errorf("authority = %q %s, want city %s", got.Authority, got.KeyID, s.Authority().KeyID())
	}
	if got.Sequence != 7 || got.Level != Warning || got.Text != a.Text {
		t.Errorf("decoded %+v, want sequence 7, warning, %q", got.Alert, a.Text)
	}
	if !got.Issued.Equal(epoch) || !got.Expires.Equal(a.Expires) {
		t.Errorf("times = %s..%s, want %s..%s", got.Issued, got.Expires, epoch, a.Expires)
	}
	if got.Area.Radius != 2500 || got.Area.Center.Lat != 35.68 {
		t.Errorf("area = %+v, want circle of 2500 m at 35.68", got.Area)
	}
	if err := got.Verify(testAuthorities(t, s)); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

func TestVerifyRejects(t *testing.T) {
	city := testSigner("city", 1)
	thief := testSigner("city", 2) // claims the name, lacks the key
	auths := testAuthorities(t, city)
	good := testAlert(t, city, 1, epoch)

	// A forgery: the thief's alert relabelled with the city's key ID,
	// signed by the thief.
	forged := resign(t, good, func(b *body) { b.Text = "All clear, go home." }, thief)
	unsigned := resign(t, good, nil, Signer{})
	foreign := testAlert(t, thief, 1, epoch)

	tests := []struct {
		name string
		s    *Signed
		want error
	}{
		{"forged", forged, ErrForged},
		{"unsigned", unsigned, ErrUnsigned},
		{"unknown key", foreign, ErrUnknownAuthority},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.s.Verify(auths); !errors.Is(err, tt.want) {
				t.Errorf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestVerifyRejectsRenamedAuthority(t *testing.T) {
	city := testSigner("city", 1)
	auths := testAuthorities(t, Signer{Name: "county", Key: city.Key})
	if err := testAlert(t, city, 1, epoch).Verify(auths); !errors.Is(err, ErrUnknownAuthority) {
		t.Errorf("Verify = %v, want %v", err, ErrUnknownAuthority)
	}
}

// resign re-encodes s with edit applied to its body and signs it with
// signer, keeping the original key ID; a Signer with no key leaves the
// signature empty.
func resign(t fatalf, s *Signed, edit func(*body), signer Signer) *Signed {
	t.Helper()
	b := toBody(&s.Alert)
	if edit != nil {
		edit(&b)
	}
	enc, err := encMode.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	var sig []byte
	if signer.Key != nil {
		sig = signWith(signer, enc)
	}
	raw, err := encMode.Marshal(envelope{Body: enc, Signature: sig})
	if err != nil {
		t.Fatal(err)
	}
	out, err := Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDecodeRejectsNonCanonical(t *testing.T) {
	good := testAlert(t, testSigner("city", 1), 1, epoch)

	// The same envelope with the body's length written in a wider integer
	// than needed: valid CBOR, but not the canonical form.
	var env envelope
	if err := decMode.Unmarshal(good.Raw, &env); err != nil {
		t.Fatal(err)
	}
	var wide bytes.Buffer
	wide.WriteByte(0x82)                                                          // array of 2
	wide.Write([]byte{0x5a, 0, 0, byte(len(env.Body) >> 8), byte(len(env.Body))}) // bytes, 4-byte length
	wide.Write(env.Body)
	sig, _ := cbor.Marshal(env.Signature)
	wide.Write(sig)

	if _, err := Decode(wide.Bytes()); !errors.Is(err, ErrMalformed) {
		t.Errorf("Decode = %v, want %v", err, ErrMalformed)
	}
}

func TestDecodeRejectsBadInput(t *testing.T) {
	good := testAlert(t, testSigner("city", 1), 1, epoch)
	tests := []struct {
		name string
		raw  []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"truncated", good.Raw[:len(good.Raw)-3], ErrMalformed},
		{"trailing bytes", append(append([]byte{}, good.Raw...), 0), ErrMalformed},
		{"too large", make([]byte, wire.MaxAlertSize+1), ErrMalformed},
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

func TestSignRejectsInvalid(t *testing.T) {
	s := testSigner("city", 1)
	valid := Alert{Level: Info, Issued: epoch, Expires: epoch.Add(time.Hour), Text: "Drill at noon."}
	tests := []struct {
		name string
		edit func(*Alert)
	}{
		{"no text", func(a *Alert) { a.Text = "" }},
		{"long text", func(a *Alert) { a.Text = strings.Repeat("x", MaxText+1) }},
		{"bad utf-8", func(a *Alert) { a.Text = "\xff" }},
		{"unknown level", func(a *Alert) { a.Level = 9 }},
		{"expires before issued", func(a *Alert) { a.Expires = epoch.Add(-time.Second) }},
		{"radius without center", func(a *Alert) { a.Area = &Area{Radius: 10} }},
		{"zero radius", func(a *Alert) { a.Area = &Area{Center: &Point{}} }},
		{"latitude out of range", func(a *Alert) { a.Area = &Area{Center: &Point{Lat: 91}, Radius: 1} }},
		{"two-vertex polygon", func(a *Alert) { a.Area = &Area{Polygon: []Point{{}, {Lat: 1}}} }},
		{"polygon on one line", func(a *Alert) { a.Area = &Area{Polygon: []Point{{}, {Lat: 1, Lon: 1}, {Lat: 2, Lon: 2}}} }},
		{"circle and polygon", func(a *Alert) {
			a.Area = &Area{Center: &Point{}, Radius: 1, Polygon: []Point{{}, {Lat: 1}, {Lon: 1}}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := valid
			tt.edit(&a)
			if _, err := Sign(a, s); !errors.Is(err, ErrInvalid) {
				t.Errorf("Sign = %v, want %v", err, ErrInvalid)
			}
		})
	}
	if _, err := Sign(valid, Signer{Name: "bad name!", Key: s.Key}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Sign with a bad authority name = %v, want %v", err, ErrInvalid)
	}
}

func TestParsePublicKey(t *testing.T) {
	pub := testSigner("city", 1).Authority().Key
	for _, s := range []string{FormatPublicKey(pub), " " + FormatPublicKey(pub) + "\n"} {
		got, err := ParsePublicKey(s)
		if err != nil || !got.Equal(pub) {
			t.Errorf("ParsePublicKey(%q) = %x, %v; want %x", s, got, err, pub)
		}
	}
	if _, err := ParsePublicKey("c2hvcnQ"); err == nil {
		t.Error("ParsePublicKey accepted a 5-byte key")
	}
}

func FuzzDecode(f *testing.F) {
	s := testSigner("city", 1)
	f.Add(testAlert(f, s, 1, epoch).Raw)
	poly, err := Sign(Alert{
		Level: Info, Issued: epoch, Expires: epoch.Add(time.Hour), Text: "Flood",
		Area: &Area{Polygon: []Point{{Lat: 1, Lon: 1}, {Lat: 2, Lon: 1}, {Lat: 2, Lon: 2}}},
	}, s)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(poly.Raw)
	f.Add([]byte{0x82, 0x40, 0x40})
	auths := testAuthorities(f, s)

	f.Fuzz(func(t *testing.T, raw []byte) {
		got, err := Decode(raw)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to the same bytes, validates and
		// does not panic on verification.
		if !bytes.Equal(got.Raw, raw) {
			t.Fatalf("decoded alert keeps %x, input %x", got.Raw, raw)
		}
		if err := got.Validate(); err != nil {
			t.Fatalf("decoded alert is invalid: %v", err)
		}
		_ = got.Verify(auths)
	})
}
