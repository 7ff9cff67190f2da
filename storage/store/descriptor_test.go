package store

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	"github.com/yuinet/yui/storage/seal"
)

// TestParseDescriptorLimits signs descriptors at and one above each count
// limit of checkBody. Signing them shows that a valid owner signature
// does not lift the limits, which keep the work of parsing a descriptor
// from a peer bounded.
func TestParseDescriptorLimits(t *testing.T) {
	owner, err := seal.NewUser()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := owner.Public().Marshal()
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name                     string
		members, readers, former int
		want                     string // empty when the descriptor must parse
	}{
		{"at limits", 2 * seal.MaxMembers, maxReaders, seal.MaxMembers, ""},
		{"members over", 2*seal.MaxMembers + 1, 0, 0, "2049 members, 0 readers and 0 former writers, limits 2048, 1024 and 1024"},
		{"readers over", 1, maxReaders + 1, 0, "1 members, 1025 readers and 0 former writers"},
		{"former over", 1, 0, seal.MaxMembers + 1, "1 members, 0 readers and 1025 former writers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := signedDescriptorWithCounts(t, owner, keys, tt.members, tt.readers, tt.former)
			d, err := ParseDescriptor(raw, nil)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("descriptor at the limits: %v", err)
				}
				if n := len(d.AccessList().Owners); n != seal.MaxMembers {
					t.Errorf("parsed access list has %d owners, want %d", n, seal.MaxMembers)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("got error %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

// signedDescriptorWithCounts builds a descriptor of namespace "limits" with
// the given numbers of members, readers and former writers, and an access
// list of MaxMembers owners and MaxMembers writers, and signs it as owner.
// Only owner's keys are real, because the access list checks only the
// length of the other keys.
func signedDescriptorWithCounts(t *testing.T, owner *seal.User, keys []byte, members, readers, former int) []byte {
	t.Helper()
	others := make([]ed25519.PublicKey, 2*seal.MaxMembers-1)
	for i := range others {
		sum := sha256.Sum256([]byte{byte(i >> 8), byte(i)})
		others[i] = sum[:]
	}
	acl := &seal.AccessList{
		Namespace: "limits",
		Version:   1,
		Owners:    append(others[:seal.MaxMembers-1:seal.MaxMembers-1], owner.SigningKey()),
		Writers:   others[seal.MaxMembers-1:],
	}

	member := Member{Keys: keys, Secret: make([]byte, seal.WrappedKeySize)}
	body := descriptorBody{
		Namespace: "limits",
		Params:    smallParams(1, 0, 1),
		Members:   make([]Member, members),
		Readers:   make([]Member, readers),
		Former:    make([]FormerWriter, former),
	}
	for i := range body.Members {
		body.Members[i] = member
	}
	for i := range body.Readers {
		body.Readers[i] = member
	}
	for i := range body.Former {
		body.Former[i] = FormerWriter{Key: others[i%len(others)], Until: 1}
	}

	var err error
	if body.AccessList, err = seal.SignAccessList(owner, acl); err != nil {
		t.Fatal(err)
	}
	raw, err := signDescriptor(owner, &body, acl.Version)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
