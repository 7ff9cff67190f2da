package seal

import (
	"crypto/ed25519"
	"errors"
	"testing"
)

func TestAccessListVerify(t *testing.T) {
	ns := newTestNamespace(t, "tags")
	if !ns.acl.IsOwner(ns.owner.SigningKey()) || ns.acl.IsOwner(ns.writer.SigningKey()) {
		t.Error("IsOwner does not match the owner list")
	}
	if !ns.acl.MayWrite(ns.owner.SigningKey()) || !ns.acl.MayWrite(ns.writer.SigningKey()) {
		t.Error("MayWrite rejects a listed owner or writer")
	}
	if ns.acl.MayWrite(newTestUser(t).SigningKey()) {
		t.Error("MayWrite accepts an unlisted key")
	}

	signed, err := SignAccessList(ns.owner, ns.acl)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyAccessList(signed, ns.writer.SigningKey()); !errors.Is(err, ErrNotOwner) {
		t.Errorf("VerifyAccessList with another trusted key = %v, want ErrNotOwner", err)
	}
	if _, err := VerifyAccessList(signed); !errors.Is(err, ErrNotOwner) {
		t.Errorf("VerifyAccessList trusting no key = %v, want ErrNotOwner", err)
	}
}

func TestAccessListUpdate(t *testing.T) {
	ns := newTestNamespace(t, "tags")
	newWriter := newTestUser(t)
	next := &AccessList{
		Namespace: "tags",
		Version:   2,
		Owners:    ns.acl.Owners,
		Writers:   []ed25519.PublicKey{ns.writer.SigningKey(), newWriter.SigningKey()},
	}

	byOwner, err := SignAccessList(ns.owner, next)
	if err != nil {
		t.Fatal(err)
	}
	updated, err := ns.acl.VerifyUpdate(byOwner)
	if err != nil {
		t.Fatal(err)
	}
	if !updated.MayWrite(newWriter.SigningKey()) {
		t.Error("updated list does not let the new writer write")
	}

	byWriter, _ := SignAccessList(ns.writer, next)
	stale := *next
	stale.Version = 1
	staleSigned, _ := SignAccessList(ns.owner, &stale)
	otherNS := *next
	otherNS.Namespace = "alerts"
	otherSigned, _ := SignAccessList(ns.owner, &otherNS)

	tests := []struct {
		name   string
		signed []byte
		want   error
	}{
		{"signed by a writer", byWriter, ErrNotOwner},
		{"same version", staleSigned, ErrStale},
		{"other namespace", otherSigned, ErrNamespaceMismatch},
		{"garbage", []byte{0x83, 0x01}, ErrMalformed},
		{"oversized", make([]byte, MaxAccessListSize+1024), ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ns.acl.VerifyUpdate(tt.signed); !errors.Is(err, tt.want) {
				t.Errorf("VerifyUpdate = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSignAccessListRejects(t *testing.T) {
	owner := newTestUser(t)
	ownerKey := []ed25519.PublicKey{owner.SigningKey()}
	tests := []struct {
		name string
		a    AccessList
		want error
	}{
		{"no owner", AccessList{Namespace: "tags", Version: 1}, ErrInvalid},
		{"version zero", AccessList{Namespace: "tags", Owners: ownerKey}, ErrInvalid},
		{"short writer key", AccessList{Namespace: "tags", Version: 1, Owners: ownerKey, Writers: []ed25519.PublicKey{{1, 2}}}, ErrInvalid},
		{"invalid namespace", AccessList{Namespace: "Tags", Version: 1, Owners: ownerKey}, ErrInvalidName},
		{"too many writers", AccessList{Namespace: "tags", Version: 1, Owners: ownerKey, Writers: make([]ed25519.PublicKey, MaxMembers+1)}, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := SignAccessList(owner, &tt.a); !errors.Is(err, tt.want) {
				t.Errorf("SignAccessList = %v, want %v", err, tt.want)
			}
		})
	}
}
