package engine

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
)

// engineKinds runs a test on an on-disk store and an in-memory one.
var engineKinds = []struct {
	name string
	open func(t *testing.T) *DB
}{
	{"disk", func(t *testing.T) *DB { return openDisk(t, t.TempDir()) }},
	{"memory", func(t *testing.T) *DB { return openMemory(t) }},
}

func openDisk(t testing.TB, dir string) *DB {
	t.Helper()
	db, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func openMemory(t testing.TB) *DB {
	t.Helper()
	db, err := OpenInMemory(Options{})
	if err != nil {
		t.Fatalf("OpenInMemory: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func commit(t testing.TB, e Engine, opts WriteOptions, fill func(Batch)) {
	t.Helper()
	b := e.NewBatch()
	defer b.Close()
	fill(b)
	if err := b.Commit(opts); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

func mustGet(t testing.TB, e Engine, key string) string {
	t.Helper()
	v, err := e.Get([]byte(key))
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return string(v)
}

func TestEngineSetGetDelete(t *testing.T) {
	for _, kind := range engineKinds {
		t.Run(kind.name, func(t *testing.T) {
			db := kind.open(t)
			commit(t, db, Sync, func(b Batch) {
				b.Set([]byte("a"), []byte("1"))
				b.Set([]byte("b"), []byte("2"))
				b.Set([]byte("empty"), nil)
			})
			if got := mustGet(t, db, "a"); got != "1" {
				t.Errorf("Get(a) = %q, want 1", got)
			}
			if got := mustGet(t, db, "empty"); got != "" {
				t.Errorf("Get(empty) = %q, want empty", got)
			}

			commit(t, db, NoSync, func(b Batch) {
				b.Delete([]byte("a"))
				b.Delete([]byte("never-written"))
				b.Set([]byte("b"), []byte("3"))
			})
			if _, err := db.Get([]byte("a")); !errors.Is(err, ErrNotFound) {
				t.Errorf("Get(a) after Delete = %v, want ErrNotFound", err)
			}
			if got := mustGet(t, db, "b"); got != "3" {
				t.Errorf("Get(b) = %q, want 3", got)
			}
		})
	}
}

func TestEngineGetReturnsCopy(t *testing.T) {
	db := openMemory(t)
	value := []byte("value")
	commit(t, db, Sync, func(b Batch) { b.Set([]byte("k"), value) })
	value[0] = 'X' // the batch copied it

	got, err := db.Get([]byte("k"))
	if err != nil {
		t.Fatal(err)
	}
	got[0] = 'Y'
	if again := mustGet(t, db, "k"); again != "value" {
		t.Errorf("stored value changed to %q through the caller's slices", again)
	}
}

func TestBatchCount(t *testing.T) {
	db := openMemory(t)
	b := db.NewBatch()
	defer b.Close()
	if b.Count() != 0 {
		t.Errorf("empty batch Count = %d", b.Count())
	}
	b.Set([]byte("a"), []byte("1"))
	b.Delete([]byte("b"))
	b.AddInt64([]byte("c"), 5)
	if b.Count() != 3 {
		t.Errorf("Count = %d, want 3", b.Count())
	}
}

func TestBatchCommitsOnce(t *testing.T) {
	db := openMemory(t)
	b := db.NewBatch()
	defer b.Close()
	b.Set([]byte("a"), []byte("1"))
	if err := b.Commit(Sync); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(Sync); err == nil {
		t.Error("second Commit succeeded")
	}
}

func TestBatchCloseDiscards(t *testing.T) {
	db := openMemory(t)
	b := db.NewBatch()
	b.Set([]byte("a"), []byte("1"))
	b.Close()
	b.Close()
	if _, err := db.Get([]byte("a")); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after an uncommitted batch = %v, want ErrNotFound", err)
	}
}

func scanAll(t *testing.T, e Engine, lower, upper []byte) []string {
	t.Helper()
	var keys []string
	err := e.Scan(lower, upper, func(key, value []byte) error {
		keys = append(keys, string(key))
		return nil
	})
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return keys
}

func TestScanBounds(t *testing.T) {
	db := openMemory(t)
	keys := []string{"a", "ab", "abc", "b", "ba", "c", "\xff", "\xff\xff"}
	commit(t, db, Sync, func(b Batch) {
		for _, k := range keys {
			b.Set([]byte(k), []byte("v"+k))
		}
	})

	tests := []struct {
		name         string
		lower, upper []byte
		want         string
	}{
		{"everything", nil, nil, strings.Join(keys, ",")},
		{"half open", []byte("ab"), []byte("b"), "ab,abc"},
		{"upper excluded", []byte("a"), []byte("ab"), "a"},
		{"prefix a", []byte("a"), PrefixEnd([]byte("a")), "a,ab,abc"},
		{"prefix ab", []byte("ab"), PrefixEnd([]byte("ab")), "ab,abc"},
		{"prefix 0xff", []byte("\xff"), PrefixEnd([]byte("\xff")), "\xff,\xff\xff"},
		{"empty range", []byte("b"), []byte("b"), ""},
	}
	for _, tt := range tests {
		got := strings.Join(scanAll(t, db, tt.lower, tt.upper), ",")
		if got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestScanValuesAndSnapshot(t *testing.T) {
	db := openMemory(t)
	commit(t, db, Sync, func(b Batch) {
		b.Set([]byte("k1"), []byte("one"))
		b.Set([]byte("k2"), []byte("two"))
	})

	var got []string
	err := db.Scan(nil, nil, func(key, value []byte) error {
		got = append(got, string(key)+"="+string(value))
		// A write during the scan is not seen by it.
		commit(t, db, NoSync, func(b Batch) { b.Set([]byte("k3"), []byte("three")) })
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := "k1=one,k2=two"; strings.Join(got, ",") != want {
		t.Errorf("scan saw %q, want %q", got, want)
	}
}

func TestScanStopsEarly(t *testing.T) {
	db := openMemory(t)
	commit(t, db, Sync, func(b Batch) {
		for i := range 10 {
			b.Set(fmt.Appendf(nil, "k%d", i), nil)
		}
	})

	calls := 0
	err := db.Scan(nil, nil, func(key, value []byte) error {
		calls++
		if calls == 3 {
			return StopScan
		}
		return nil
	})
	if err != nil {
		t.Errorf("Scan with StopScan = %v, want nil", err)
	}
	if calls != 3 {
		t.Errorf("fn called %d times, want 3", calls)
	}

	boom := errors.New("boom")
	err = db.Scan(nil, nil, func(key, value []byte) error { return boom })
	if !errors.Is(err, boom) {
		t.Errorf("Scan = %v, want the callback's error", err)
	}
}

func TestPrefixEnd(t *testing.T) {
	tests := []struct{ in, want []byte }{
		{[]byte("a"), []byte("b")},
		{[]byte("a\xff"), []byte("b")},
		{[]byte("a\xff\xff"), []byte("b")},
		{[]byte{0x01, 0x02}, []byte{0x01, 0x03}},
		{[]byte{0xff}, nil},
		{nil, nil},
	}
	for _, tt := range tests {
		if got := PrefixEnd(tt.in); !bytes.Equal(got, tt.want) {
			t.Errorf("PrefixEnd(%x) = %x, want %x", tt.in, got, tt.want)
		}
	}
	in := []byte("ab")
	PrefixEnd(in)
	if string(in) != "ab" {
		t.Errorf("PrefixEnd changed its argument to %q", in)
	}
}

func readInt64(t testing.TB, e Engine, key string) int64 {
	t.Helper()
	v, err := ParseInt64([]byte(mustGet(t, e, key)))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestAddInt64(t *testing.T) {
	db := openMemory(t)
	commit(t, db, Sync, func(b Batch) {
		b.AddInt64([]byte("n"), 5)
		b.AddInt64([]byte("n"), -7)
	})
	if got := readInt64(t, db, "n"); got != -2 {
		t.Errorf("counter = %d, want -2", got)
	}

	commit(t, db, Sync, func(b Batch) { b.Set([]byte("n"), encodeInt64(100)) })
	commit(t, db, Sync, func(b Batch) { b.AddInt64([]byte("n"), 1) })
	if got := readInt64(t, db, "n"); got != 101 {
		t.Errorf("counter after Set 100 and add 1 = %d, want 101", got)
	}
}

func TestAddInt64Concurrent(t *testing.T) {
	db := openMemory(t)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				b := db.NewBatch()
				b.AddInt64([]byte("n"), int64(g*1000+i))
				if err := b.Commit(NoSync); err != nil {
					t.Error(err)
				}
				b.Close()
			}
		}()
	}
	wg.Wait()

	// Σ_g Σ_i (1000g + i) = 100·1000·28 + 8·4950.
	if got, want := readInt64(t, db, "n"), int64(100*1000*28+8*4950); got != want {
		t.Errorf("counter = %d, want %d", got, want)
	}
}

func TestAddInt64SurvivesFlushAndReopen(t *testing.T) {
	dir := t.TempDir()
	db := openDisk(t, dir)
	for i := 1; i <= 50; i++ {
		commit(t, db, Sync, func(b Batch) { b.AddInt64([]byte("n"), int64(i)) })
		if i == 25 {
			if err := db.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = openDisk(t, dir)
	if got := readInt64(t, db, "n"); got != 50*51/2 {
		t.Errorf("counter after reopen = %d, want %d", got, 50*51/2)
	}
}

func TestParseInt64RejectsWrongLength(t *testing.T) {
	if _, err := ParseInt64([]byte{1, 2, 3}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("ParseInt64(3 bytes) = %v, want ErrCorrupt", err)
	}
}

func TestReopenKeepsData(t *testing.T) {
	dir := t.TempDir()
	db := openDisk(t, dir)
	commit(t, db, Sync, func(b Batch) { b.Set([]byte("k"), []byte("durable")) })
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = openDisk(t, dir)
	if got := mustGet(t, db, "k"); got != "durable" {
		t.Errorf("after reopen Get(k) = %q", got)
	}
}

func TestOpenLockedInProcess(t *testing.T) {
	dir := t.TempDir()
	openDisk(t, dir)

	_, err := Open(dir, Options{})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), dir) {
		t.Errorf("error %q does not name the folder", err)
	}
}

func TestOpenNotAFolder(t *testing.T) {
	file := t.TempDir() + "/file"
	if err := writeFile(file); err != nil {
		t.Fatal(err)
	}
	_, err := Open(file, Options{})
	if err == nil {
		t.Fatal("Open on a regular file succeeded")
	}
	if !strings.Contains(err.Error(), file) {
		t.Errorf("error %q does not name the path", err)
	}
}

func TestClosedEngine(t *testing.T) {
	db := openMemory(t)
	pending := db.NewBatch()
	pending.Set([]byte("a"), []byte("1"))
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}

	if _, err := db.Get([]byte("a")); !errors.Is(err, ErrClosed) {
		t.Errorf("Get = %v, want ErrClosed", err)
	}
	if err := db.Scan(nil, nil, func(_, _ []byte) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("Scan = %v, want ErrClosed", err)
	}
	if _, err := db.DiskUsage(); !errors.Is(err, ErrClosed) {
		t.Errorf("DiskUsage = %v, want ErrClosed", err)
	}
	if err := pending.Commit(Sync); !errors.Is(err, ErrClosed) {
		t.Errorf("Commit of a batch from before Close = %v, want ErrClosed", err)
	}
	pending.Close()

	b := db.NewBatch()
	b.Set([]byte("b"), []byte("2"))
	if err := b.Commit(Sync); !errors.Is(err, ErrClosed) {
		t.Errorf("Commit of a batch from after Close = %v, want ErrClosed", err)
	}
}

func TestDiskUsage(t *testing.T) {
	db := openDisk(t, t.TempDir())
	commit(t, db, Sync, func(b Batch) { b.Set([]byte("k"), make([]byte, 1<<20)) })
	u, err := db.DiskUsage()
	if err != nil {
		t.Fatal(err)
	}
	if u.Used < 1<<20 {
		t.Errorf("Used = %d after writing 1 MiB", u.Used)
	}
	if u.Total == 0 || u.Available > u.Total {
		t.Errorf("Available %d, Total %d", u.Available, u.Total)
	}

	mem, err := OpenInMemory(Options{MemoryCapacity: 10 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	commit(t, mem, Sync, func(b Batch) { b.Set([]byte("k"), make([]byte, 1<<20)) })
	u, err = mem.DiskUsage()
	if err != nil {
		t.Fatal(err)
	}
	if u.Total != 10<<20 {
		t.Errorf("in-memory Total = %d, want the capacity %d", u.Total, 10<<20)
	}
	if u.Used < 1<<20 || u.Available != u.Total-u.Used {
		t.Errorf("in-memory Used %d, Available %d", u.Used, u.Available)
	}
}

func writeFile(path string) error {
	return os.WriteFile(path, []byte("not a store"), 0o644)
}
