// Package engine is a node's local storage: an ordered key-value Engine
// backed by Pebble, and a ShardStore on top of it that keeps erasure-coded
// shards and record metadata.
//
// # Durability
//
// A batch committed with Sync is durable when Commit returns nil: Pebble
// has written it to its write-ahead log and the log file has been fsynced.
// It then survives a crash of the process (the package's crash test kills
// a writer with SIGKILL and finds every acknowledged write intact) and, as
// far as the disk honours fsync, a power failure. Power failure is not
// tested. A batch committed without Sync is atomic and visible to reads at
// once but may be lost in a crash. A later synced commit makes it durable
// as well, because the log is written in commit order.
//
// Batches are atomic in every case: after a crash a batch is either wholly
// present or wholly absent.
//
// Only writes acknowledged after a synced commit may be reported to a peer
// as stored. ShardStore commits every write with Sync.
package engine

import (
	"bytes"
	"errors"
)

// Errors returned by engines, wrapped with the key or folder involved.
var (
	ErrNotFound = errors.New("engine: not found")
	// ErrLocked reports a folder that another process, or another engine in
	// this process, has open.
	ErrLocked = errors.New("engine: store is locked")
	// ErrCorrupt reports stored bytes that fail a checksum: Pebble's own,
	// or a shard's hash in ShardStore.
	ErrCorrupt = errors.New("engine: corrupt data")
	ErrClosed  = errors.New("engine: closed")
)

// StopScan, returned by a Scan callback, ends the scan early; Scan then
// returns nil.
var StopScan = errors.New("engine: stop scan")

// Engine is an ordered key-value store on one node's disk. Keys and values
// are arbitrary byte strings, and keys sort bytewise. All methods are safe
// for concurrent use. After Close, they return ErrClosed.
type Engine interface {
	// Get returns a copy of the value stored at key, or an error wrapping
	// ErrNotFound.
	Get(key []byte) ([]byte, error)

	// NewBatch returns an empty batch. Its writes take effect together
	// when it is committed.
	NewBatch() Batch

	// Scan calls fn for each key in [lower, upper) in ascending order, on a
	// snapshot taken when Scan starts. A nil upper means no upper bound.
	// key and value are valid only during the call, so fn must copy what
	// it keeps. If fn returns StopScan, Scan stops and returns nil; any
	// other error stops the scan and is returned. fn must not call Close.
	Scan(lower, upper []byte, fn func(key, value []byte) error) error

	// DiskUsage returns the space the store takes and the free space left
	// on its file system.
	DiskUsage() (DiskUsage, error)

	// Close waits for operations in progress and releases the store. It is
	// safe to call more than once.
	Close() error
}

// Batch collects writes to commit atomically. A Batch is not safe for
// concurrent use. Errors from Set, Delete and AddInt64 are kept and
// returned by Commit.
type Batch interface {
	// Set stores value at key. The batch copies both.
	Set(key, value []byte)
	// Delete removes key. Deleting a missing key is not an error.
	Delete(key []byte)
	// AddInt64 adds delta to the counter at key, which holds an 8-byte
	// big-endian int64 (a missing key counts as 0). Concurrent batches may
	// add to the same counter without a lock. Read the counter with Get and
	// ParseInt64.
	AddInt64(key []byte, delta int64)
	// Count returns the number of writes in the batch.
	Count() int
	// Commit applies the batch; see the package documentation for what
	// opts.Sync guarantees. A batch can be committed only once.
	Commit(opts WriteOptions) error
	// Close releases the batch. It is safe to call after Commit and more
	// than once.
	Close()
}

// WriteOptions control a commit.
type WriteOptions struct {
	// Sync makes Commit wait until the batch is on stable storage.
	Sync bool
}

// Sync and NoSync are the two ways to commit.
var (
	Sync   = WriteOptions{Sync: true}
	NoSync = WriteOptions{Sync: false}
)

// DiskUsage is the space a store takes and the space left for it.
type DiskUsage struct {
	// Used is an estimate of the bytes of all the store's files: logs,
	// tables and manifests.
	Used uint64
	// Available is the bytes the process may still write on the store's
	// file system. For an in-memory store it is the configured capacity
	// minus Used.
	Available uint64
	// Total is the size of the store's file system in bytes, or the
	// configured capacity of an in-memory store.
	Total uint64
}

// PrefixEnd returns the smallest key greater than every key that starts
// with prefix, for use as Scan's upper bound. It returns nil, meaning no
// bound, when prefix is empty or all 0xff bytes.
func PrefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

// ScanPrefix calls fn, as Scan does, for each key that starts with prefix.
func ScanPrefix(e Engine, prefix []byte, fn func(key, value []byte) error) error {
	return e.Scan(prefix, PrefixEnd(prefix), fn)
}
