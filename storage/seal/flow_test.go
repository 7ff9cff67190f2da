package seal

import (
	"bytes"
	"testing"

	"github.com/yuinet/yui/storage/chunk"
)

// TestRecordFlow writes a record with a header, a value and two field
// groups, and has a storage node check it without keys. A guardian, given
// the header and guardians keys, reads it all back. A passer-by, given the
// public key only, reads the public group and nothing else.
func TestRecordFlow(t *testing.T) {
	ns := newTestNamespace(t, "tags")
	guardian, passerby := newTestUser(t), newTestUser(t)
	value := bytes.Repeat([]byte("1163438041250 20 1 21,21 2,81 51,53 22,08 20 28\n"), 300)

	// Writer: seal the value, the header and the groups.
	id := testRecordID(ns.ks, "tag-17/2006-11-13", 1)
	header, stored := sealValue(t, ns.ks, "tag-17/2006-11-13", value)
	headerKey, publicKey, guardiansKey := NewDataKey(), NewDataKey(), NewDataKey()
	sealedHeader, err := SealHeader(headerKey, id, header)
	if err != nil {
		t.Fatal(err)
	}
	groups := map[string][]byte{}
	groups["public"], err = SealGroup(publicKey, id, "public", map[string][]byte{"temperature": []byte("22.08")})
	if err != nil {
		t.Fatal(err)
	}
	groups["guardians"], err = SealGroup(guardiansKey, id, "guardians", map[string][]byte{"relay": []byte("node-20")})
	if err != nil {
		t.Fatal(err)
	}
	signed, err := SignEnvelope(ns.writer, NewEnvelope(id, sealedHeader, header.ChunkIDs(), groups))
	if err != nil {
		t.Fatal(err)
	}

	// Writer: wrap each key to the readers entitled to it.
	wrap := func(u *User, role string, dk DataKey) []byte {
		ctx := WrapContext{Namespace: id.Namespace, Scope: id.KeyHash, Version: id.Version, Role: role}
		w, err := WrapKey(u.Public(), dk, ctx)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	guardianHeader := wrap(guardian, RoleHeader, headerKey)
	guardianGroup := wrap(guardian, "guardians", guardiansKey)
	passerbyGroup := wrap(passerby, "public", publicKey)

	// Storage node: it holds the access list but no key of any kind.
	env, err := VerifyEnvelope(signed, ns.acl)
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	if err := env.CheckHeader(sealedHeader); err != nil {
		t.Fatalf("node: %v", err)
	}
	for name, sealed := range groups {
		if err := env.CheckGroup(name, sealed); err != nil {
			t.Fatalf("node: %v", err)
		}
	}
	for _, cid := range env.Chunks {
		if err := chunk.VerifyID(cid, stored[cid]); err != nil {
			t.Fatalf("node: %v", err)
		}
	}

	// Guardian: unwrap, open the header, fetch and open the chunks.
	unwrap := func(u *User, role string, w []byte) (DataKey, error) {
		ctx := WrapContext{Namespace: env.Record.Namespace, Scope: env.Record.KeyHash, Version: env.Record.Version, Role: role}
		return UnwrapKey(u, w, ctx)
	}
	hk, err := unwrap(guardian, RoleHeader, guardianHeader)
	if err != nil {
		t.Fatal(err)
	}
	h, err := OpenHeader(hk, env.Record, sealedHeader)
	if err != nil {
		t.Fatal(err)
	}
	if h.Key != "tag-17/2006-11-13" {
		t.Errorf("header key = %q", h.Key)
	}
	if err := env.CheckChunks(h); err != nil {
		t.Fatal(err)
	}
	var read []byte
	for _, ref := range h.Chunks {
		plaintext, err := chunk.Open(ref, stored[ref.ID])
		if err != nil {
			t.Fatal(err)
		}
		read = append(read, plaintext...)
	}
	if !bytes.Equal(read, value) {
		t.Error("guardian read back a different value")
	}
	gk, err := unwrap(guardian, "guardians", guardianGroup)
	if err != nil {
		t.Fatal(err)
	}
	fields, err := OpenGroup(gk, env.Record, "guardians", groups["guardians"])
	if err != nil || string(fields["relay"]) != "node-20" {
		t.Errorf("guardian read guardians group %q, %v", fields, err)
	}

	// Passer-by: reads the public group and nothing else.
	pk, err := unwrap(passerby, "public", passerbyGroup)
	if err != nil {
		t.Fatal(err)
	}
	fields, err = OpenGroup(pk, env.Record, "public", groups["public"])
	if err != nil || string(fields["temperature"]) != "22.08" {
		t.Errorf("passer-by read public group %q, %v", fields, err)
	}
	if _, err := OpenGroup(pk, env.Record, "guardians", groups["guardians"]); err == nil {
		t.Error("passer-by opened the guardians group with the public key")
	}
	if _, err := OpenHeader(pk, env.Record, sealedHeader); err == nil {
		t.Error("passer-by opened the header with the public key")
	}
	if _, err := unwrap(passerby, "guardians", guardianGroup); err == nil {
		t.Error("passer-by unwrapped the guardian's key")
	}
}
