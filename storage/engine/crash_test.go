package engine

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/yuinet/yui/storage/erasure"
)

// crashDirEnv, when set, makes the test binary run crashWriter on that
// folder instead of the tests. The crash test starts the binary this way
// and kills it with SIGKILL.
const crashDirEnv = "YUI_ENGINE_CRASH_WRITER_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		os.Exit(crashWriter(dir))
	}
	os.Exit(m.Run())
}

var crashParams = erasure.Params{Data: 2, Parity: 1}

// crashData returns the chunk that writer w puts as its seq-th write, so
// the parent can recompute what each acknowledged write stored.
func crashData(w, seq int) []byte {
	size := 100 + (seq*7919+w*104729)%70000
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i*31 + seq*7 + w)
	}
	return data
}

func crashChunkID(w, seq int) ChunkID { return chunkID(fmt.Sprintf("crash-%d-%d", w, seq)) }

func batchKey(n, part int) []byte { return fmt.Appendf(nil, "zbatch/%08d/%d", n, part) }

var batchCounterKey = []byte("zbatch-count")

// crashWriter writes until it is killed, and prints a line to stdout after
// each write is acknowledged: "shard W SEQ" for ShardStore.Put by writer
// W, and "batch N" for a raw batch of three keys and a counter.
func crashWriter(dir string) int {
	db, err := Open(dir, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	s, err := NewShardStore(db)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}

	var mu sync.Mutex // serializes lines on stdout
	ack := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(os.Stdout, format+"\n", args...)
	}
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}

	for w := range 3 {
		go func() {
			for seq := 0; ; seq++ {
				shards, err := erasure.Encode(crashParams, crashData(w, seq))
				if err != nil {
					fail(err)
				}
				if err := s.Put(crashChunkID(w, seq), shards[seq%3]); err != nil {
					fail(err)
				}
				ack("shard %d %d", w, seq)
			}
		}()
	}
	for n := 0; ; n++ {
		b := db.NewBatch()
		for part := range 3 {
			b.Set(batchKey(n, part), []byte(strconv.Itoa(n)))
		}
		b.AddInt64(batchCounterKey, 1)
		if err := b.Commit(Sync); err != nil {
			fail(err)
		}
		b.Close()
		ack("batch %d", n)
	}
}

// acks are the writes a killed writer acknowledged.
type acks struct {
	shards  [][2]int // writer, seq
	batches []int
}

func (a *acks) parse(t *testing.T, line string) {
	f := strings.Fields(line)
	switch {
	case len(f) == 3 && f[0] == "shard":
		w, err1 := strconv.Atoi(f[1])
		seq, err2 := strconv.Atoi(f[2])
		if err1 != nil || err2 != nil {
			t.Fatalf("writer printed %q", line)
		}
		a.shards = append(a.shards, [2]int{w, seq})
	case len(f) == 2 && f[0] == "batch":
		n, err := strconv.Atoi(f[1])
		if err != nil {
			t.Fatalf("writer printed %q", line)
		}
		a.batches = append(a.batches, n)
	default:
		t.Fatalf("writer printed %q", line)
	}
}

func TestCrashKeepsAcknowledgedWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("starts writer processes")
	}
	for _, killAfter := range []int{1, 37, 250} {
		t.Run(fmt.Sprintf("kill after %d acks", killAfter), func(t *testing.T) {
			dir := t.TempDir()
			acked := runAndKill(t, dir, killAfter)
			checkAfterCrash(t, dir, acked)
		})
	}
}

// runAndKill starts a crash writer on dir, sends it SIGKILL once it has
// acknowledged killAfter writes, and returns every write it acknowledged,
// including those printed between the kill signal and its death.
func runAndKill(t *testing.T, dir string, killAfter int) *acks {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}

	acked := &acks{}
	lines := bufio.NewScanner(stdout)
	for count := 0; lines.Scan(); count++ {
		acked.parse(t, lines.Text())
		if count+1 == killAfter {
			checkLockedByWriter(t, dir)
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
		}
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.String() != "signal: killed" {
		t.Fatalf("writer ended with %v, want signal: killed; stderr:\n%s", err, stderr.String())
	}
	if len(acked.shards)+len(acked.batches) < killAfter {
		t.Fatalf("writer acknowledged %d writes before dying, want at least %d; stderr:\n%s",
			len(acked.shards)+len(acked.batches), killAfter, stderr.String())
	}
	t.Logf("writer acknowledged %d shards and %d batches", len(acked.shards), len(acked.batches))
	return acked
}

// checkLockedByWriter checks that a second process cannot open the folder.
func checkLockedByWriter(t *testing.T, dir string) {
	db, err := Open(dir, Options{})
	if err == nil {
		db.Close()
		t.Fatal("Open succeeded while the writer process had the store open")
	}
	if !errors.Is(err, ErrLocked) {
		t.Errorf("Open while the writer runs = %v, want ErrLocked", err)
	}
}

func checkAfterCrash(t *testing.T, dir string, acked *acks) {
	db := openDisk(t, dir)
	s := newStore(t, db)

	// Every acknowledged shard is present, intact and identical to what
	// was written.
	for _, a := range acked.shards {
		w, seq := a[0], a[1]
		got, err := s.Get(crashChunkID(w, seq), seq%3)
		if err != nil {
			t.Errorf("acknowledged shard of writer %d, write %d: %v", w, seq, err)
			continue
		}
		want, err := erasure.Encode(crashParams, crashData(w, seq))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want[seq%3]) {
			t.Errorf("shard of writer %d, write %d differs from what was written", w, seq)
		}
	}

	// Every stored shard, acknowledged or not, is intact: no torn value.
	err := s.ScanShards(func(id ChunkID, index int) error {
		if _, err := s.Get(id, index); err != nil {
			t.Errorf("stored shard: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	checkBatchesAfterCrash(t, db, acked)
	if got, want := s.Usage(), recount(t, db); got != want {
		t.Errorf("usage counters %+v, stored shards add up to %+v", got, want)
	}
}

// checkBatchesAfterCrash checks that every acknowledged batch is present
// and that every batch present is whole, counter included.
func checkBatchesAfterCrash(t *testing.T, db Engine, acked *acks) {
	for _, n := range acked.batches {
		for part := range 3 {
			if _, err := db.Get(batchKey(n, part)); err != nil {
				t.Errorf("acknowledged batch %d, key %d: %v", n, part, err)
			}
		}
	}

	parts := map[string]int{}
	err := ScanPrefix(db, []byte("zbatch/"), func(key, _ []byte) error {
		parts[string(key[:len("zbatch/00000000")])]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for batch, n := range parts {
		if n != 3 {
			t.Errorf("%s has %d of its 3 keys: torn batch", batch, n)
		}
	}
	count := int64(0)
	if value, err := db.Get(batchCounterKey); err == nil {
		if count, err = ParseInt64(value); err != nil {
			t.Fatal(err)
		}
	} else if !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	if count != int64(len(parts)) {
		t.Errorf("batch counter is %d, but %d batches are stored", count, len(parts))
	}
}
