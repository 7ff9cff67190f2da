// Package chunk cuts values into chunks and seals each chunk by convergent
// encryption, so that a namespace stores a repeated chunk once and storage
// nodes see only ciphertext.
//
// A writer streams a value through a Chunker (fixed-size or content-defined,
// chosen per namespace by Params), seals every chunk with the namespace's
// chunk Secret, and lists the resulting Refs in the record's encrypted
// header. Storage nodes hold sealed chunks under their ID, the SHA-256 of
// the ciphertext, and check every copy with VerifyID. A reader takes the
// Refs from the header it decrypted and calls Open on each chunk it fetches.
//
// The package does no I/O beyond reading the stream it is given.
package chunk
