package alert

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestAuthoritiesFile(t *testing.T) {
	dir := t.TempDir()
	if list, err := ReadAuthorities(dir); err != nil || len(list) != 0 {
		t.Fatalf("ReadAuthorities of an empty folder = %v, %v; want none", list, err)
	}
	city, err := CreateSigner(dir, "city")
	if err != nil {
		t.Fatal(err)
	}
	county := testSigner("county", 2)
	for _, a := range []Authority{city.Authority(), county.Authority(), city.Authority()} {
		if err := AddAuthority(dir, a); err != nil {
			t.Fatal(err)
		}
	}
	list, err := ReadAuthorities(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "city" || !list[1].Key.Equal(county.Authority().Key) {
		t.Errorf("authorities = %v, want city and county once each", list)
	}
	if err := AddAuthority(dir, Authority{Name: "town", Key: county.Authority().Key}); err == nil {
		t.Error("AddAuthority accepted a trusted key under a second name")
	}

	loaded, err := LoadSigner(dir, "city")
	if err != nil {
		t.Fatal(err)
	}
	if !loaded.Key.Equal(city.Key) {
		t.Error("LoadSigner returned another key than CreateSigner made")
	}
	if _, err := CreateSigner(dir, "city"); err == nil {
		t.Error("CreateSigner replaced an existing key")
	}
	if _, err := LoadSigner(dir, "nobody"); !errors.Is(err, ErrNoKey) {
		t.Errorf("LoadSigner of a missing key = %v, want %v", err, ErrNoKey)
	}
	if names, err := Signers(dir); err != nil || len(names) != 1 || names[0] != "city" {
		t.Errorf("Signers = %v, %v; want [city]", names, err)
	}
}

func TestNextSequenceRises(t *testing.T) {
	dir := t.TempDir()
	for want := uint64(1); want <= 3; want++ {
		got, err := NextSequence(dir, "city")
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("NextSequence = %d, want %d", got, want)
		}
	}
}

func TestParseAuthoritiesRejects(t *testing.T) {
	key := FormatPublicKey(testSigner("city", 1).Authority().Key)
	tests := map[string]string{
		"one field":    "city\n",
		"three fields": "city " + key + " extra\n",
		"short key":    "city AAAA\n",
		"bad name":     "ci/ty " + key + "\n",
	}
	for name, text := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseAuthorities([]byte(text)); err == nil {
				t.Errorf("ParseAuthorities(%q) succeeded, want an error", text)
			}
		})
	}
	list, err := ParseAuthorities([]byte("# trusted keys\n\ncity " + key + "  # the city hall\n"))
	if err != nil || len(list) != 1 {
		t.Errorf("ParseAuthorities with comments = %v, %v; want one authority", list, err)
	}
}

func TestReadAuthoritiesRejectsLargeFile(t *testing.T) {
	dir := t.TempDir()
	big := make([]byte, MaxAuthoritiesFile+1)
	if err := os.WriteFile(filepath.Join(dir, AuthoritiesFile), big, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadAuthorities(dir); err == nil {
		t.Error("ReadAuthorities accepted a file over the limit")
	}
}

func FuzzParseAuthorities(f *testing.F) {
	f.Add([]byte("city " + FormatPublicKey(testSigner("city", 1).Authority().Key) + "\n# comment\n"))
	f.Add([]byte("a b c\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		list, err := ParseAuthorities(b)
		if err != nil {
			return
		}
		if _, err := NewAuthorities(list); err != nil {
			// Two names for one key parse fine but cannot form a set.
			return
		}
		for _, a := range list {
			if err := validateName(a.Name); err != nil {
				t.Fatalf("parsed invalid name %q", a.Name)
			}
		}
	})
}
