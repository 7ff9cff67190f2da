package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"sync"
	"syscall"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Options configure Open and OpenInMemory. The zero value is ready to use.
type Options struct {
	// Logger receives Pebble's messages: errors at error level, the rest at
	// debug level. Nil means slog.Default().
	Logger *slog.Logger
	// CacheSize is the block cache size in bytes. Zero means 64 MiB.
	CacheSize int64
	// MemoryCapacity is the size that an in-memory store reports as Total
	// in DiskUsage. Zero means 1 GiB. Open ignores it.
	MemoryCapacity uint64
}

const (
	defaultCacheSize      = 64 << 20
	defaultMemoryCapacity = 1 << 30
)

// formatVersion is Pebble's on-disk format. It is pinned, rather than
// pebble.FormatNewest, so that upgrading Pebble does not silently ratchet
// stores to a format that older builds of yui cannot open.
const formatVersion = pebble.FormatValueSeparation

// DB is an Engine on Pebble (github.com/cockroachdb/pebble/v2).
type DB struct {
	dir      string // the folder, or "" for an in-memory store
	fs       vfs.FS
	capacity uint64 // in-memory stores only

	// mu guards closed. Every operation holds it for reading while it uses
	// db, and Close takes it for writing. So Close waits for operations in
	// progress, and no operation reaches Pebble after Close, where Pebble
	// would panic.
	mu     sync.RWMutex
	closed bool
	db     *pebble.DB
}

var _ Engine = (*DB)(nil)

// Open opens the store in dir, creating the folder and an empty store if
// they do not exist. Only one DB at a time can have a folder open. An error
// names the folder and, where one is known, the fix.
func Open(dir string, opts Options) (*DB, error) {
	d := &DB{dir: dir, fs: vfs.Default}
	if err := d.open(opts); err != nil {
		return nil, openError(dir, err)
	}
	return d, nil
}

// OpenInMemory opens an empty store kept in memory, with Pebble running on
// its in-memory file system. It behaves like a store on disk, except that
// its contents vanish on Close and Sync costs nothing.
func OpenInMemory(opts Options) (*DB, error) {
	capacity := opts.MemoryCapacity
	if capacity == 0 {
		capacity = defaultMemoryCapacity
	}
	d := &DB{fs: vfs.NewMem(), capacity: capacity}
	if err := d.open(opts); err != nil {
		return nil, fmt.Errorf("engine: open in-memory store: %w", err)
	}
	return d, nil
}

func (d *DB) open(opts Options) error {
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("store", d.name())

	cache := pebble.NewCache(cmpOr(opts.CacheSize, defaultCacheSize))
	defer cache.Unref() // the DB keeps its own reference

	db, err := pebble.Open(d.dir, &pebble.Options{
		FS:                 d.fs,
		Cache:              cache,
		Logger:             pebbleLogger{logger},
		EventListener:      d.eventListener(logger),
		Merger:             int64AddMerger,
		FormatMajorVersion: formatVersion,
	})
	if err != nil {
		return err
	}
	d.db = db
	return nil
}

// eventListener logs damaged files, each once. Pebble's default for
// DataCorruption calls Logger.Fatalf and stops the process. A damaged block
// costs only the shards in it, which the network can repair, so reads of
// those keys return ErrCorrupt instead.
func (d *DB) eventListener(logger *slog.Logger) *pebble.EventListener {
	var logged sync.Map // file path -> struct{}
	return &pebble.EventListener{
		DataCorruption: func(info pebble.DataCorruptionInfo) {
			if _, seen := logged.LoadOrStore(info.Path, struct{}{}); seen {
				return
			}
			logger.Error("engine: damaged file; reads of keys in its damaged blocks return ErrCorrupt",
				"path", info.Path, "bounds", info.Bounds.String(), "err", info.Details.Error())
		},
	}
}

func cmpOr(v, fallback int64) int64 {
	if v != 0 {
		return v
	}
	return fallback
}

func (d *DB) name() string {
	if d.dir == "" {
		return "in-memory"
	}
	return d.dir
}

// openError explains the usual reasons Open fails.
func openError(dir string, err error) error {
	switch {
	case isLockError(err):
		return fmt.Errorf("%w: %s is in use by another process, or by another engine in this process; "+
			"stop it or choose another folder: %v", ErrLocked, dir, err)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("engine: open %s: permission denied; give the user running yui "+
			"read and write access to the folder and its files: %w", dir, err)
	case pebble.IsCorruptionError(err):
		return fmt.Errorf("%w: open %s: %v; move the folder aside and start with an empty one, "+
			"so that the node's shards can be rebuilt from other nodes", ErrCorrupt, dir, err)
	}
	return fmt.Errorf("engine: open %s: %w", dir, err)
}

// isLockError reports whether err comes from taking the folder's lock file.
// Another process holding the lock gives EAGAIN or EACCES from fcntl.
// Another DB in this process gives an error that Pebble v2.1.7 creates with
// errors.New, so only its message identifies it.
func isLockError(err error) bool {
	return errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EACCES) ||
		strings.Contains(err.Error(), "lock held by current process")
}

// acquire returns with d.mu held for reading, or ErrClosed.
func (d *DB) acquire() error {
	d.mu.RLock()
	if d.closed {
		d.mu.RUnlock()
		return fmt.Errorf("%w: %s", ErrClosed, d.name())
	}
	return nil
}

func (d *DB) release() { d.mu.RUnlock() }

// Get implements Engine.
func (d *DB) Get(key []byte) ([]byte, error) {
	if err := d.acquire(); err != nil {
		return nil, err
	}
	defer d.release()

	value, closer, err := d.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, fmt.Errorf("%w: key %q", ErrNotFound, key)
	}
	if err != nil {
		return nil, d.readError(key, err)
	}
	defer closer.Close()
	return append(make([]byte, 0, len(value)), value...), nil
}

// readError wraps an error from reading key.
//
// NOTE: on a checksum mismatch Pebble v2.1.7 searches the damaged block for
// a single flipped bit, recomputing the whole block's checksum for each bit
// of its first 40 KiB. A read of a damaged block holding one 64 KiB value
// took about 4 s on a 2-core Xeon VM. A 1 MiB block costs 16 times as much.
func (d *DB) readError(key []byte, err error) error {
	if pebble.IsCorruptionError(err) {
		return fmt.Errorf("%w: %s: reading key %q: %v", ErrCorrupt, d.name(), key, err)
	}
	return fmt.Errorf("engine: %s: read key %q: %w", d.name(), key, err)
}

// Scan implements Engine.
func (d *DB) Scan(lower, upper []byte, fn func(key, value []byte) error) error {
	if err := d.acquire(); err != nil {
		return err
	}
	defer d.release()

	it, err := d.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return d.readError(lower, err)
	}
	for valid := it.First(); valid; valid = it.Next() {
		value, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return d.readError(it.Key(), err)
		}
		if err := fn(it.Key(), value); err != nil {
			it.Close()
			if errors.Is(err, StopScan) {
				return nil
			}
			return err
		}
	}
	if err := it.Close(); err != nil {
		return d.readError(lower, err)
	}
	return nil
}

// DiskUsage implements Engine.
func (d *DB) DiskUsage() (DiskUsage, error) {
	if err := d.acquire(); err != nil {
		return DiskUsage{}, err
	}
	defer d.release()

	used := diskSpaceUsage(d.db.Metrics())
	if d.dir == "" {
		return DiskUsage{Used: used, Available: d.capacity - min(used, d.capacity), Total: d.capacity}, nil
	}
	fsUsage, err := d.fs.GetDiskUsage(d.dir)
	if err != nil {
		return DiskUsage{}, fmt.Errorf("engine: %s: read free space: %w", d.dir, err)
	}
	return DiskUsage{Used: used, Available: fsUsage.AvailBytes, Total: fsUsage.TotalBytes}, nil
}

// diskSpaceUsage estimates the bytes of the store's files.
// Metrics.DiskSpaceUsage counts the current log file at the size it had
// when it was opened (Pebble v2.1), so a store whose writes are all still
// in its first log would report almost nothing. The logical size of the
// live logs, WAL.Size, is used where it is larger.
func diskSpaceUsage(m *pebble.Metrics) uint64 {
	used := m.DiskSpaceUsage()
	if m.WAL.Size > m.WAL.PhysicalSize {
		used += m.WAL.Size - m.WAL.PhysicalSize
	}
	return used
}

// Flush writes the memtable to a table file. Commits do not need it for
// durability. It exists for tests and tools that inspect the files.
func (d *DB) Flush() error {
	if err := d.acquire(); err != nil {
		return err
	}
	defer d.release()
	if err := d.db.Flush(); err != nil {
		return fmt.Errorf("engine: %s: flush: %w", d.name(), err)
	}
	return nil
}

// Close implements Engine.
func (d *DB) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	if err := d.db.Close(); err != nil {
		return fmt.Errorf("engine: close %s: %w", d.name(), err)
	}
	return nil
}

// NewBatch implements Engine.
func (d *DB) NewBatch() Batch {
	return &batch{d: d}
}

// batch buffers writes in a pebble.Batch, created on the first write so
// that NewBatch cannot fail on a closed DB.
type batch struct {
	d   *DB
	b   *pebble.Batch
	err error // first error from a write; returned by Commit
}

func (b *batch) pebbleBatch() *pebble.Batch {
	if b.b == nil && b.err == nil {
		if err := b.d.acquire(); err != nil {
			b.err = err
			return nil
		}
		b.b = b.d.db.NewBatch()
		b.d.release()
	}
	return b.b
}

func (b *batch) record(err error, op string, key []byte) {
	if err != nil && b.err == nil {
		b.err = fmt.Errorf("engine: %s key %q: %w", op, key, err)
	}
}

func (b *batch) Set(key, value []byte) {
	if pb := b.pebbleBatch(); pb != nil {
		b.record(pb.Set(key, value, nil), "set", key)
	}
}

func (b *batch) Delete(key []byte) {
	if pb := b.pebbleBatch(); pb != nil {
		b.record(pb.Delete(key, nil), "delete", key)
	}
}

func (b *batch) AddInt64(key []byte, delta int64) {
	if pb := b.pebbleBatch(); pb != nil {
		b.record(pb.Merge(key, encodeInt64(delta), nil), "add to", key)
	}
}

func (b *batch) Count() int {
	if b.b == nil {
		return 0
	}
	return int(b.b.Count())
}

func (b *batch) Commit(opts WriteOptions) error {
	if b.err != nil {
		return b.err
	}
	if b.b == nil {
		return nil // nothing written
	}
	if err := b.d.acquire(); err != nil {
		return err
	}
	defer b.d.release()

	writeOpts := pebble.NoSync
	if opts.Sync {
		writeOpts = pebble.Sync
	}
	err := b.b.Commit(writeOpts)
	if err != nil {
		err = fmt.Errorf("engine: %s: commit %d writes: %w", b.d.name(), b.b.Count(), err)
	}
	b.Close()
	b.err = errors.New("engine: batch already committed")
	return err
}

func (b *batch) Close() {
	if b.b != nil {
		b.b.Close()
		b.b = nil
	}
}

// pebbleLogger passes Pebble's log lines to slog.
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug("pebble: " + fmt.Sprintf(format, args...))
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error("pebble: " + fmt.Sprintf(format, args...))
}

// Fatalf is called by Pebble on a broken internal invariant, after which
// Pebble must not continue. Pebble's own default logger exits the process.
func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := "pebble: " + fmt.Sprintf(format, args...)
	p.l.Error(msg)
	panic(msg)
}
