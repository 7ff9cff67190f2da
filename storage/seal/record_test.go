package seal

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/yuinet/yui/storage/chunk"
)

// sealValue cuts value into small CDC chunks, seals each and returns the
// header and the sealed chunks by ID, as a writer would.
func sealValue(t testing.TB, ks *KeySet, key string, value []byte) (*Header, map[chunk.ID][]byte) {
	t.Helper()
	c, err := chunk.New(bytes.NewReader(value), chunk.Params{Kind: chunk.CDC, Min: 256, Avg: 1024, Max: 4096})
	if err != nil {
		t.Fatal(err)
	}
	h := &Header{Key: key, ContentType: "text/plain", Size: uint64(len(value))}
	stored := make(map[chunk.ID][]byte)
	for {
		data, err := c.Next()
		if errors.Is(err, io.EOF) {
			return h, stored
		}
		if err != nil {
			t.Fatal(err)
		}
		ref, sealed, err := chunk.Seal(ks.Chunk, data)
		if err != nil {
			t.Fatal(err)
		}
		h.Chunks = append(h.Chunks, ref)
		stored[ref.ID] = sealed
	}
}

func testRecordID(ks *KeySet, key string, version uint64) RecordID {
	return RecordID{Namespace: ks.Namespace, KeyHash: KeyHash(ks, key), Version: version}
}

func TestHeaderRoundTrip(t *testing.T) {
	ks := testKeySet(t, "sensors")
	value := bytes.Repeat([]byte("1163438041250 20 1 21,21 2,81 51,53 22,08 20 28\n"), 200)
	h, stored := sealValue(t, ks, "R1.txt", value)
	id := testRecordID(ks, "R1.txt", 1)
	dk := NewDataKey()

	sealed, err := SealHeader(dk, id, h)
	if err != nil {
		t.Fatal(err)
	}
	got, err := OpenHeader(dk, id, sealed)
	if err != nil {
		t.Fatal(err)
	}
	if got.Key != h.Key || got.ContentType != h.ContentType || got.Size != h.Size || len(got.Chunks) != len(h.Chunks) {
		t.Fatalf("OpenHeader = %+v, want %+v", got, h)
	}

	var joined []byte
	for _, ref := range got.Chunks {
		plaintext, err := chunk.Open(ref, stored[ref.ID])
		if err != nil {
			t.Fatal(err)
		}
		joined = append(joined, plaintext...)
	}
	if !bytes.Equal(joined, value) {
		t.Error("chunks listed in the opened header do not join to the value")
	}
}

func TestHeaderEmptyValue(t *testing.T) {
	ks := testKeySet(t, "sensors")
	id := testRecordID(ks, "empty", 1)
	dk := NewDataKey()
	sealed, err := SealHeader(dk, id, &Header{Key: "empty"})
	if err != nil {
		t.Fatal(err)
	}
	h, err := OpenHeader(dk, id, sealed)
	if err != nil {
		t.Fatal(err)
	}
	if h.Size != 0 || len(h.Chunks) != 0 {
		t.Errorf("empty value opened as size %d with %d chunks", h.Size, len(h.Chunks))
	}
}

func TestOpenHeaderRejects(t *testing.T) {
	ks := testKeySet(t, "sensors")
	dk := NewDataKey()
	id := testRecordID(ks, "R1.txt", 3)
	h, _ := sealValue(t, ks, "R1.txt", []byte("21,21 2,81 51,53"))
	sealed, err := SealHeader(dk, id, h)
	if err != nil {
		t.Fatal(err)
	}

	// Another record sealed under its own key, whose header a storage
	// node might present in place of this one.
	otherKey := NewDataKey()
	otherID := testRecordID(ks, "R2.txt", 3)
	otherSealed, err := SealHeader(otherKey, otherID, &Header{Key: "R2.txt"})
	if err != nil {
		t.Fatal(err)
	}

	tampered := bytes.Clone(sealed)
	tampered[len(tampered)/2] ^= 0x40

	nextVersion := id
	nextVersion.Version++
	otherNamespace := id
	otherNamespace.Namespace = "alerts"

	tests := []struct {
		name   string
		key    DataKey
		id     RecordID
		sealed []byte
		want   error
	}{
		{"tampered ciphertext", dk, id, tampered, ErrDecrypt},
		{"truncated", dk, id, sealed[:len(sealed)-1], ErrDecrypt},
		{"shorter than a nonce", dk, id, sealed[:5], ErrDecrypt},
		{"wrong data key", NewDataKey(), id, sealed, ErrDecrypt},
		{"header of another record", otherKey, id, otherSealed, ErrDecrypt},
		{"header of another version", dk, nextVersion, sealed, ErrDecrypt},
		{"header of another namespace", dk, otherNamespace, sealed, ErrDecrypt},
		{"oversized", dk, id, make([]byte, MaxHeaderSize+1), ErrTooLarge},
		{"version zero", dk, RecordID{Namespace: "sensors"}, sealed, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := OpenHeader(tt.key, tt.id, tt.sealed); !errors.Is(err, tt.want) {
				t.Errorf("OpenHeader = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSealHeaderRejects(t *testing.T) {
	ks := testKeySet(t, "sensors")
	id := testRecordID(ks, "k", 1)
	h, _ := sealValue(t, ks, "k", bytes.Repeat([]byte("abc"), 2000))

	wrongSize := *h
	wrongSize.Size++
	badRef := *h
	badRef.Chunks = append([]chunk.Ref{{}}, h.Chunks...)
	tooMany := Header{Key: "k", Chunks: make([]chunk.Ref, MaxChunks+1)}
	for i := range tooMany.Chunks {
		tooMany.Chunks[i].Size = 1
	}
	tooMany.Size = MaxChunks + 1

	tests := []struct {
		name string
		id   RecordID
		h    *Header
		want error
	}{
		{"empty key", id, &Header{}, ErrInvalidName},
		{"key with NUL", id, &Header{Key: "a\x00"}, ErrInvalidName},
		{"long content type", id, &Header{Key: "k", ContentType: strings.Repeat("x", MaxContentTypeLen+1)}, ErrInvalid},
		{"size differs from chunks", id, &wrongSize, ErrInvalid},
		{"empty chunk", id, &badRef, ErrInvalid},
		{"too many chunks", id, &tooMany, ErrTooLarge},
		{"invalid namespace", RecordID{Namespace: "A", Version: 1}, h, ErrInvalidName},
		{"version zero", RecordID{Namespace: "sensors"}, h, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := SealHeader(NewDataKey(), tt.id, tt.h); !errors.Is(err, tt.want) {
				t.Errorf("SealHeader = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestGroupsOpenOnlyWithTheirKey(t *testing.T) {
	ks := testKeySet(t, "tags")
	id := testRecordID(ks, "tag-17", 1)
	publicKey, guardiansKey := NewDataKey(), NewDataKey()

	public, err := SealGroup(publicKey, id, "public", map[string][]byte{"temperature": []byte("21.5")})
	if err != nil {
		t.Fatal(err)
	}
	guardians, err := SealGroup(guardiansKey, id, "guardians", map[string][]byte{
		"lat": []byte("50.8126"), "lon": []byte("4.3817"),
	})
	if err != nil {
		t.Fatal(err)
	}

	fields, err := OpenGroup(publicKey, id, "public", public)
	if err != nil {
		t.Fatalf("reader with the public key: %v", err)
	}
	if string(fields["temperature"]) != "21.5" {
		t.Errorf("public group = %q, want temperature 21.5", fields)
	}

	// A reader holding only the public key.
	if _, err := OpenGroup(publicKey, id, "guardians", guardians); !errors.Is(err, ErrDecrypt) {
		t.Errorf("public key opened the guardians group: %v, want ErrDecrypt", err)
	}
	// The guardians ciphertext presented under the public group's name.
	if _, err := OpenGroup(publicKey, id, "public", guardians); !errors.Is(err, ErrDecrypt) {
		t.Errorf("public key opened guardians ciphertext named public: %v, want ErrDecrypt", err)
	}
	// The right key, but the group relabelled: the name is bound too.
	if _, err := OpenGroup(guardiansKey, id, "public", guardians); !errors.Is(err, ErrDecrypt) {
		t.Errorf("guardians group opened under the name public: %v, want ErrDecrypt", err)
	}

	got, err := OpenGroup(guardiansKey, id, "guardians", guardians)
	if err != nil {
		t.Fatalf("reader with the guardians key: %v", err)
	}
	if string(got["lat"]) != "50.8126" || string(got["lon"]) != "4.3817" {
		t.Errorf("guardians group = %q", got)
	}
}

func TestSealGroupRejects(t *testing.T) {
	ks := testKeySet(t, "tags")
	id := testRecordID(ks, "tag-17", 1)
	tooMany := make(map[string][]byte)
	for i := 0; i <= MaxFields; i++ {
		tooMany[strings.Repeat("f", i%60+1)+string(rune('a'+i%26))+string(rune('a'+i/26))] = nil
	}

	tests := []struct {
		name   string
		group  string
		fields map[string][]byte
		want   error
	}{
		{"reserved group name", RoleHeader, nil, ErrInvalidName},
		{"invalid group name", "Public", nil, ErrInvalidName},
		{"empty field name", "public", map[string][]byte{"": nil}, ErrInvalidName},
		{"long field name", "public", map[string][]byte{strings.Repeat("f", MaxFieldNameLen+1): nil}, ErrInvalidName},
		{"too many fields", "public", tooMany, ErrTooLarge},
		{"oversized", "public", map[string][]byte{"blob": make([]byte, MaxGroupSize)}, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := SealGroup(NewDataKey(), id, tt.group, tt.fields); !errors.Is(err, tt.want) {
				t.Errorf("SealGroup = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestOpenGroupRejectsOversized(t *testing.T) {
	ks := testKeySet(t, "tags")
	_, err := OpenGroup(NewDataKey(), testRecordID(ks, "t", 1), "public", make([]byte, MaxGroupSize+1))
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("OpenGroup(oversized) = %v, want ErrTooLarge", err)
	}
}
