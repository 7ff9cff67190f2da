// Package seal encrypts, wraps and signs records on the writing client, so
// that storage nodes hold and check records without being able to read them.
//
// The pieces, from the namespace down:
//
//   - A namespace master secret derives a KeySet with HKDF-SHA256: the key
//     that hashes record keys, the convergent chunk secret (package
//     storage/chunk), the index token key and the metadata key.
//   - A record key is stored only as KeyHash, an HMAC, so storage nodes
//     never see key names.
//   - Each record version gets a random DataKey. It seals the Header (key
//     name, content type, size and chunk list) with AES-256-GCM, bound to the
//     RecordID (namespace, key hash and version) so a header cannot be
//     moved to another record. Field groups are sealed the same way under
//     their own DataKeys, so a reader given one group's key reads only that
//     group.
//   - DataKeys reach readers wrapped with HPKE (RFC 9180) to each reader's
//     X25519 key, bound to a WrapContext.
//   - The writer signs an Envelope with Ed25519: the RecordID, the hashes
//     of the sealed header and groups, the chunk IDs and the tombstone
//     flag. A storage node verifies it against the namespace's AccessList,
//     which an owner signed, with no decryption key at all.
//
// Every structure is encoded as deterministic CBOR (RFC 8949) and decoded
// strictly, with a size limit checked before decoding.
package seal
