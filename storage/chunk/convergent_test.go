package chunk

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

var (
	secretA = Secret{1}
	secretB = Secret{2}
)

func TestSealOpenRoundTrip(t *testing.T) {
	for _, size := range []int{1, 100, 1 << 20} {
		plaintext := randomBytes(uint64(size), size)
		ref, sealed, err := Seal(secretA, plaintext)
		if err != nil {
			t.Fatalf("Seal %d bytes: %v", size, err)
		}
		if len(sealed) != size+Overhead {
			t.Errorf("sealed %d bytes into %d, want %d", size, len(sealed), size+Overhead)
		}
		if ref.Size != uint32(size) {
			t.Errorf("ref.Size = %d, want %d", ref.Size, size)
		}
		if err := VerifyID(ref.ID, sealed); err != nil {
			t.Errorf("VerifyID: %v", err)
		}
		got, err := Open(ref, sealed)
		if err != nil {
			t.Fatalf("Open %d bytes: %v", size, err)
		}
		if !bytes.Equal(got, plaintext) {
			t.Errorf("Open %d bytes returned different plaintext", size)
		}
	}
}

func TestSealConvergesWithinNamespace(t *testing.T) {
	plaintext := []byte("21,21;37,5;446,2")
	ref1, sealed1, _ := Seal(secretA, plaintext)
	ref2, sealed2, _ := Seal(secretA, bytes.Clone(plaintext))
	if ref1 != ref2 || !bytes.Equal(sealed1, sealed2) {
		t.Errorf("equal chunks in one namespace sealed differently: %s and %s", ref1.ID, ref2.ID)
	}

	refB, sealedB, _ := Seal(secretB, plaintext)
	if refB.ID == ref1.ID || refB.Key == ref1.Key || bytes.Equal(sealedB, sealed1) {
		t.Errorf("equal chunks in two namespaces share ID %s, key or ciphertext", ref1.ID)
	}

	refOther, _, _ := Seal(secretA, []byte("21,21;37,5;446,3"))
	if refOther.ID == ref1.ID {
		t.Errorf("different chunks share ID %s", ref1.ID)
	}
}

func TestSealRejects(t *testing.T) {
	if _, _, err := Seal(secretA, nil); !errors.Is(err, ErrEmpty) {
		t.Errorf("Seal(empty) = %v, want ErrEmpty", err)
	}
	if _, _, err := Seal(secretA, make([]byte, MaxChunkSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Seal(MaxChunkSize+1) = %v, want ErrTooLarge", err)
	}
}

func TestOpenRejects(t *testing.T) {
	plaintext := randomBytes(9, 5000)
	ref, sealed, err := Seal(secretA, plaintext)
	if err != nil {
		t.Fatal(err)
	}

	flipped := bytes.Clone(sealed)
	flipped[100] ^= 1

	// A chunk whose ID matches but whose key does not: what a reader sees
	// if a header lists the wrong key for an intact chunk.
	wrongKey := ref
	wrongKey.Key[0] ^= 1

	wrongSize := ref
	wrongSize.Size++

	tests := []struct {
		name   string
		ref    Ref
		sealed []byte
		want   error
	}{
		{"tampered ciphertext", ref, flipped, ErrIDMismatch},
		{"truncated", ref, sealed[:len(sealed)-1], ErrIDMismatch},
		{"empty", ref, nil, ErrIDMismatch},
		{"wrong key", wrongKey, sealed, ErrDecrypt},
		{"wrong size", wrongSize, sealed, ErrSize},
		{"oversized", ref, make([]byte, MaxChunkSize+Overhead+1), ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Open(tt.ref, tt.sealed)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Open = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), ref.ID.String()) {
				t.Errorf("error %q does not name chunk %s", err, ref.ID)
			}
		})
	}
}

func TestParseID(t *testing.T) {
	ref, _, _ := Seal(secretA, []byte("x"))
	got, err := ParseID(ref.ID.String())
	if err != nil || got != ref.ID {
		t.Errorf("ParseID(%s) = %s, %v", ref.ID, got, err)
	}
	for _, bad := range []string{"", "abc", strings.Repeat("zz", 32)} {
		if _, err := ParseID(bad); err == nil {
			t.Errorf("ParseID(%q) succeeded, want an error", bad)
		}
	}
}

func TestIDUnmarshalBinaryRejectsLength(t *testing.T) {
	var id ID
	if err := id.UnmarshalBinary(make([]byte, 31)); err == nil {
		t.Error("UnmarshalBinary(31 bytes) succeeded, want an error")
	}
	var k Key
	if err := k.UnmarshalBinary(make([]byte, 33)); err == nil {
		t.Error("Key.UnmarshalBinary(33 bytes) succeeded, want an error")
	}
}
