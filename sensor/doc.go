// Package sensor defines the sensor reading, the unit of data that Yui's
// sensor ingest stores and searches, and its binary encoding.
//
// A Reading is one measurement event: the sensor that produced it, when,
// a list of named values and, optionally, where. A value is a finite
// number, a short text or explicitly missing, so no sentinel such as -200
// or NaN ever stands for "no data" once a reading is built.
//
// Readings encode to deterministic CBOR (RFC 8949, core deterministic
// encoding): equal readings give equal bytes. Many readings pack into one
// segment, which shares the table of source ids and field names among its
// readings and stores each time as a difference from the previous one.
// Decoding is strict. It rejects input above its size limit, any CBOR item
// of the wrong type and any reading that fails Validate. It also rejects
// bytes that differ from what the encoder would write for the decoded
// readings, so every accepted segment has exactly one encoding.
package sensor
