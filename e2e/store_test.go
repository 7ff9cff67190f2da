package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/storage/seal"
)

// unavailableRetryDelay is how long a read waits before it retries after
// a gateway reported too few holders reachable.
const unavailableRetryDelay = 2 * time.Second

// phaseLimit bounds each phase of a test: writing, reading or repairing
// every record.
const phaseLimit = 5 * time.Minute

// storeRecord is a value written to the store and what a read must return.
type storeRecord struct {
	key   string
	value []byte // dropped once written; sum and size remain
	sum   [32]byte
	size  int
	ctype string
}

func newRecord(key string, value []byte, ctype string) storeRecord {
	return storeRecord{key: key, value: value, sum: sha256.Sum256(value), size: len(value), ctype: ctype}
}

// libraryReading is one line of the ULB library sensor network as a
// record: the arrival time and mote parsed, the whole line kept as the
// motes sent it.
type libraryReading struct {
	TimeMs int64  `json:"time_ms"`
	Mote   int    `json:"mote"`
	Line   string `json:"line"`
}

// libraryRecords returns up to count JSON records of the readings in the
// ULB library files, in file order.
func libraryRecords(t *testing.T, prefix string, count int) []storeRecord {
	t.Helper()
	var out []storeRecord
	for _, name := range []string{"R1.txt", "R2.txt", "R3.txt"} {
		data, err := os.ReadFile(sharedSensorData(t, "ulb-library1/"+name))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			fields := strings.Fields(line)
			if len(fields) < 3 {
				continue
			}
			ms, err1 := strconv.ParseInt(fields[0], 10, 64)
			mote, err2 := strconv.Atoi(fields[1])
			if err1 != nil || err2 != nil {
				continue
			}
			value, _ := json.Marshal(libraryReading{TimeMs: ms, Mote: mote, Line: strings.TrimSpace(line)}) // cannot fail
			key := fmt.Sprintf("%s/%s/mote%02d/%06d", prefix, strings.TrimSuffix(name, ".txt"), mote, len(out))
			out = append(out, newRecord(key, value, "application/json"))
			if len(out) == count {
				return out
			}
		}
	}
	t.Fatalf("the ULB library files hold %d readings, want %d", len(out), count)
	return nil
}

// randomRecord returns a record of size random bytes.
func randomRecord(rng *rand.Rand, key string, size int) storeRecord {
	value := make([]byte, size)
	for i := range value {
		value[i] = byte(rng.Uint32())
	}
	return newRecord(key, value, "application/octet-stream")
}

// logicalBytes returns the sum of the records' value sizes.
func logicalBytes(records []storeRecord) int64 {
	var n int64
	for _, r := range records {
		n += int64(r.size)
	}
	return n
}

// shareUserKeys creates a user and installs its key file in the data
// folder of each of the first count nodes before they start. It models
// one person's keys on many devices, so any node can read what another
// wrote for that user.
func (c *cluster) shareUserKeys(name string, count int) {
	c.t.Helper()
	u, err := seal.NewUser()
	if err != nil {
		c.t.Fatal(err)
	}
	first := filepath.Join(c.base, nodeName(0), "users", name+".pem")
	if err := os.MkdirAll(filepath.Dir(first), 0o700); err != nil {
		c.t.Fatal(err)
	}
	if err := seal.SaveUser(first, u); err != nil {
		c.t.Fatal(err)
	}
	pem, err := os.ReadFile(first)
	if err != nil {
		c.t.Fatal(err)
	}
	for i := 1; i < count; i++ {
		path := filepath.Join(c.base, nodeName(i), "users", name+".pem")
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			c.t.Fatal(err)
		}
		if err := os.WriteFile(path, pem, 0o600); err != nil {
			c.t.Fatal(err)
		}
	}
}

// writeBatches writes records through gw in batches of batch records,
// two batches at a time. Each batch's small values are packed into a
// segment that is coded like a chunk. A batch that could not reach all
// its holders is written again once, as a client would retry it.
func writeBatches(ctx context.Context, gw *localNode, user, ns string, records []storeRecord, batch int, retried *atomic.Int64) error {
	batches := (len(records) + batch - 1) / batch
	errs := runParallel(batches, 2, func(i int) error {
		part := records[i*batch : min((i+1)*batch, len(records))]
		lines := make([]api.BatchLine, len(part))
		for j, r := range part {
			lines[j] = api.NewBatchLine(r.key, r.value, r.ctype)
		}
		return retryOnce(retried, func() error {
			client, err := gw.liveClient()
			if err != nil {
				return err
			}
			recs, err := client.PutBatch(ctx, user, ns, lines)
			if err != nil {
				return fmt.Errorf("batch %d through %s: %w", i, gw.name, err)
			}
			if len(recs) != len(part) {
				return fmt.Errorf("batch %d through %s stored %d of %d records", i, gw.name, len(recs), len(part))
			}
			return nil
		})
	})
	return errors.Join(errs...)
}

// writeSingles writes each record with its own request, two at a time,
// each retried once as writeBatches does.
func writeSingles(ctx context.Context, gw *localNode, user, ns string, records []storeRecord, retried *atomic.Int64) error {
	errs := runParallel(len(records), 2, func(i int) error {
		return retryOnce(retried, func() error { return putRecord(ctx, gw, user, ns, records[i]) })
	})
	return errors.Join(errs...)
}

func putRecord(ctx context.Context, gw *localNode, user, ns string, r storeRecord) error {
	client, err := gw.liveClient()
	if err != nil {
		return err
	}
	rec, err := client.PutRecord(ctx, user, ns, r.key, bytes.NewReader(r.value), int64(r.size), r.ctype)
	if err != nil {
		return fmt.Errorf("put %s through %s: %w", r.key, gw.name, err)
	}
	if rec.Size != uint64(r.size) {
		return fmt.Errorf("put %s through %s stored %d bytes, want %d", r.key, gw.name, rec.Size, r.size)
	}
	return nil
}

// readBatchSize is how many records one batched read requests.
const readBatchSize = 500

// verifyRecords reads every record through the gateways in turn: values
// of at most 64 KiB with batched reads of readBatchSize keys, larger ones
// one by one. It returns one error per record that is missing or
// differs, the time each request took and the number of records whose
// read was retried.
func verifyRecords(ctx context.Context, gateways []*localNode, user, ns string, records []storeRecord, workers int) ([]error, []time.Duration, int) {
	var small, large []storeRecord
	for _, r := range records {
		if r.size <= 64<<10 {
			small = append(small, r)
		} else {
			large = append(large, r)
		}
	}
	groups := (len(small) + readBatchSize - 1) / readBatchSize
	took := make([]time.Duration, groups+len(large))
	var retried atomic.Int64
	var mu sync.Mutex
	var errs []error
	runParallel(groups+len(large), workers, func(i int) error {
		start := time.Now()
		defer func() { took[i] = time.Since(start) }()
		gw := gateways[i%len(gateways)]
		var failed []error
		if i < groups {
			failed = verifyGroup(ctx, gw, user, ns, small[i*readBatchSize:min((i+1)*readBatchSize, len(small))], &retried)
		} else if err := verifyWithRetry(ctx, gw, user, ns, large[i-groups], &retried); err != nil {
			failed = []error{err}
		}
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs, failed...)
		return nil
	})
	return errs, took, int(retried.Load())
}

// verifyGroup reads records with one batched read and checks each. The
// records the gateway could not reach enough holders for are read again
// with one more batched read, as a client would retry.
func verifyGroup(ctx context.Context, gw *localNode, user, ns string, group []storeRecord, retried *atomic.Int64) []error {
	values, err := readGroup(ctx, gw, user, ns, group)
	if err != nil {
		return []error{err}
	}
	var again []int
	for i := range group {
		if errors.Is(values[i].Err(), api.ErrUnavailable) {
			again = append(again, i)
		}
	}
	if len(again) > 0 {
		retried.Add(int64(len(again)))
		time.Sleep(unavailableRetryDelay)
		retry := make([]storeRecord, len(again))
		for j, i := range again {
			retry[j] = group[i]
		}
		second, err := readGroup(ctx, gw, user, ns, retry)
		if err != nil {
			return []error{err}
		}
		for j, i := range again {
			values[i] = second[j]
		}
	}
	var errs []error
	for i, r := range group {
		if err := checkReadValue(gw, r, &values[i]); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// readGroup reads the records of group with one batched read through gw.
func readGroup(ctx context.Context, gw *localNode, user, ns string, group []storeRecord) ([]api.ReadValue, error) {
	client, err := gw.liveClient()
	if err != nil {
		return nil, err
	}
	keys := make([]string, len(group))
	for i, r := range group {
		keys[i] = r.key
	}
	values, err := client.GetBatch(ctx, user, ns, keys)
	if err != nil {
		return nil, fmt.Errorf("batched read of %d records through %s: %w", len(keys), gw.name, err)
	}
	return values, nil
}

// checkReadValue checks one result of a batched read against r.
func checkReadValue(gw *localNode, r storeRecord, v *api.ReadValue) error {
	if err := v.Err(); err != nil {
		return fmt.Errorf("batched read through %s: %w", gw.name, err)
	}
	if got := sha256.Sum256(v.Value); got != r.sum {
		return fmt.Errorf("batched read of %s through %s: %d bytes with SHA-256 %x, want %d bytes with %x",
			r.key, gw.name, len(v.Value), got[:8], r.size, r.sum[:8])
	}
	if v.Record.ContentType != r.ctype {
		return fmt.Errorf("batched read of %s through %s: content type %q, want %q", r.key, gw.name, v.Record.ContentType, r.ctype)
	}
	return nil
}

// verifyWithRetry reads r alone and retries once after a gateway
// reported too few holders reachable, before the value or while
// streaming it. Data that is really lost fails the retry too.
func verifyWithRetry(ctx context.Context, gw *localNode, user, ns string, r storeRecord, retried *atomic.Int64) error {
	return retryOnce(retried, func() error { return verifyRecord(ctx, gw, user, ns, r) })
}

// retryOnce runs fn, and once more after unavailableRetryDelay when it
// failed because too few holders were reachable or a stream broke off, as
// a client does. It counts the retries in retried.
func retryOnce(retried *atomic.Int64, fn func() error) error {
	err := fn()
	if errors.Is(err, api.ErrUnavailable) || errors.Is(err, api.ErrInterrupted) {
		retried.Add(1)
		time.Sleep(unavailableRetryDelay)
		err = fn()
	}
	return err
}

// verifyRecord reads r through gw and checks its bytes and content type.
func verifyRecord(ctx context.Context, gw *localNode, user, ns string, r storeRecord) error {
	client, err := gw.liveClient()
	if err != nil {
		return err
	}
	h := sha256.New()
	rec, err := client.GetRecord(ctx, user, ns, r.key, h)
	if err != nil {
		return fmt.Errorf("get %s through %s: %w", r.key, gw.name, err)
	}
	if got := [32]byte(h.Sum(nil)); got != r.sum {
		return fmt.Errorf("get %s through %s: %d bytes with SHA-256 %x, want %d bytes with %x",
			r.key, gw.name, rec.Size, got[:8], r.size, r.sum[:8])
	}
	if rec.ContentType != r.ctype {
		return fmt.Errorf("get %s through %s: content type %q, want %q", r.key, gw.name, rec.ContentType, r.ctype)
	}
	return nil
}

// checkAllReadable fails the test if any record does not read back
// byte-identical, naming the first few, and logs the read latencies.
func checkAllReadable(t *testing.T, phase string, gateways []*localNode, user, ns string, records []storeRecord) {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), phaseLimit)
	defer cancel()
	errs, took, retried := verifyRecords(ctx, gateways, user, ns, records, 4)
	slices.Sort(took)
	pct := func(p float64) time.Duration { return took[int(p*float64(len(took)-1))].Round(time.Millisecond) }
	t.Logf("%s: read %d records through %d gateways in %s, %d retried, %d lost or wrong; request latency p50 %s, p90 %s, p99 %s, max %s",
		phase, len(records), len(gateways), time.Since(start).Round(time.Millisecond), retried, len(errs),
		pct(0.5), pct(0.9), pct(0.99), pct(1))
	for i, err := range errs {
		if i == 10 {
			t.Errorf("%s: and %d more failures", phase, len(errs)-10)
			break
		}
		t.Errorf("%s: %v", phase, err)
	}
}

// storedBytes sums the shard and record bytes that the running nodes
// hold, as each reports in its storage statistics.
func (c *cluster) storedBytes(ctx context.Context) (shards, meta int64, err error) {
	var mu sync.Mutex
	nodes := c.running()
	errs := runParallel(len(nodes), 8, func(i int) error {
		client, err := nodes[i].liveClient()
		if err != nil {
			return err
		}
		st, err := client.StorageStats(ctx)
		if err != nil {
			return fmt.Errorf("storage statistics of %s: %w", nodes[i].name, err)
		}
		mu.Lock()
		defer mu.Unlock()
		shards += st.ShardBytes
		meta += st.MetaBytes
		return nil
	})
	return shards, meta, errors.Join(errs...)
}

// pickVictims returns count random nodes of candidates, never spare.
func pickVictims(rng *rand.Rand, candidates []*localNode, spare *localNode, count int) []*localNode {
	var pool []*localNode
	for _, n := range candidates {
		if n != spare {
			pool = append(pool, n)
		}
	}
	rng.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
	return pool[:count]
}

// readers returns the client's node and count-1 other running nodes, the
// gateways through which a test reads.
func (c *cluster) readers(client *localNode, count int) []*localNode {
	out := []*localNode{client}
	for _, n := range c.running() {
		if len(out) == count {
			break
		}
		if n != client {
			out = append(out, n)
		}
	}
	return out
}

func nodeNames(nodes []*localNode) string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.name)
	}
	return strings.Join(out, " ")
}

// TestStoreSurvivesThirdKilled writes records to 48 node processes on
// loopback and kills 16 of them at once with SIGKILL. Every record must
// read back byte-exact. After a repair pass on every survivor it kills 8
// more, and every record must read back again. The default code, 31+17
// chunks and segments with 17 directory replicas, survives any 16 of 48
// holders failing at once, and repair restores that margin on the 32
// survivors. After repair the nodes must hold at most maxOverhead times
// the bytes written. Straight after writing they may hold a little more,
// because a holder that was slow to respond keeps the copy a faster one
// also stored until its own repair pass drops it.
func TestStoreSurvivesThirdKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 48 processes; skipped in -short mode")
	}
	if raceEnabled {
		t.Skip("48 processes take longer than the suite's budget under the race detector; scripts/test runs this test without it")
	}
	const (
		nodes     = 48
		batchSize = 500
		user      = "lab"
		ns        = "survive"
		// largeValues is the number of values of 2 to 4 MiB.
		largeValues = 13
		// maxOverhead bounds the bytes all nodes hold per logical byte
		// written, once repair has run.
		maxOverhead = 2.0
		// maxWriteOverhead bounds it straight after writing, spare copies
		// included. A quiet machine leaves few of them, and a loaded one
		// about a tenth of the shards (measured at load average 18 to 25).
		maxWriteOverhead = 2.3
		// readGateways is the number of nodes that serve the reads. Each
		// gateway pays once for the first request it sends to a dead node,
		// so a few gateways learn of the deaths sooner than many.
		readGateways = 4
	)
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0))
	t.Logf("records and victims come from seed %d", seed)

	// Small records go in batches, which packs their values into value
	// segments and their signed versions into version segments. A few go
	// alone, which seals each inline in its record version. Values of
	// several 1 MiB chunks each go alone too.
	readings := libraryRecords(t, "library", 10_024)
	batched, singles := readings[:10_000], readings[10_000:]
	large := []storeRecord{
		randomRecord(rng, "files/a.bin", 2<<20+17),
		randomRecord(rng, "files/b.bin", 3<<20),
		randomRecord(rng, "files/c.bin", 4<<20+1000),
	}
	// Each small record costs about 1.7 KB at 31+17 and R = 17: its
	// signed version in a version segment and a packed entry on each
	// directory holder. The multi-MiB values, 1.55× each, bring the
	// whole under maxOverhead.
	for i := range largeValues - len(large) {
		large = append(large, randomRecord(rng, fmt.Sprintf("files/d%02d.bin", i), 4<<20))
	}
	all := slices.Concat(batched, singles, large)
	logical := logicalBytes(all)

	testStart := time.Now()
	c := newCluster(t)
	c.shareUserKeys(user, nodes)
	// YUI_E2E_NODE_ARGS adds flags to every node, such as --log-level
	// debug when a run needs looking into.
	c.start(nodes, strings.Fields(os.Getenv("YUI_E2E_NODE_ARGS"))...)
	c.waitOverlay(nodes/2, 2*time.Minute)
	t.Logf("%d nodes started and joined in %s", nodes, time.Since(testStart).Round(time.Millisecond))

	// The client's node is the one the test writes through; it is never
	// killed, as a user's own device keeps running while others fail.
	client := c.nodes[rng.IntN(nodes)]
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), phaseLimit)
	defer cancel()
	// The first write creates the namespace alone, because two requests
	// that both create one conflict.
	if err := putRecord(ctx, client, user, ns, singles[0]); err != nil {
		t.Fatalf("first write: %v", err)
	}
	var retried atomic.Int64
	if err := writeBatches(ctx, client, user, ns, batched, batchSize, &retried); err != nil {
		t.Fatalf("write: %v", err)
	}
	if err := writeSingles(ctx, client, user, ns, slices.Concat(singles[1:], large), &retried); err != nil {
		t.Fatalf("write: %v", err)
	}
	t.Logf("wrote %d records, %d bytes, through %s in %s: %d in batches of %d, %d small ones alone, %d of 2 to 4 MiB; %d writes retried",
		len(all), logical, client.name, time.Since(start).Round(time.Millisecond),
		len(batched), batchSize, len(singles), len(large), retried.Load())

	if o := logOverhead(t, ctx, c, "after writing", logical, len(all)); o > maxWriteOverhead {
		t.Errorf("after writing, the nodes hold %.2f× the logical bytes, want at most %.1f× before repair drops spare copies", o, maxWriteOverhead)
	}

	victims := pickVictims(rng, c.running(), client, 16)
	killAll(victims)
	t.Logf("killed 16 of %d nodes at once: %s", nodes, nodeNames(victims))
	checkAllReadable(t, "after 16 of 48 killed", c.readers(client, readGateways), user, ns, all)
	if t.Failed() {
		return
	}

	start = time.Now()
	rctx, rcancel := context.WithTimeout(context.Background(), phaseLimit)
	defer rcancel()
	if lost := c.repairAll(rctx); lost > 0 {
		t.Errorf("repair found %d chunks with fewer than their data shards left", lost)
	}
	t.Logf("repair on the 32 survivors took %s", time.Since(start).Round(time.Millisecond))
	if o := logOverhead(t, rctx, c, "after repair on 32 nodes", logical, len(all)); o > maxOverhead {
		t.Errorf("after repair, the nodes hold %.2f× the logical bytes, want at most %.1f×", o, maxOverhead)
	}

	victims = pickVictims(rng, c.running(), client, 8)
	killAll(victims)
	t.Logf("killed 8 more nodes at once: %s", nodeNames(victims))
	checkAllReadable(t, "after 24 of 48 killed, with repair between", c.readers(client, readGateways), user, ns, all)
	t.Logf("whole test took %s", time.Since(testStart).Round(time.Millisecond))
}

// logOverhead logs the bytes the running nodes hold per logical byte
// written, split into shards (chunks, value segments and version
// segments) and directory entries, and returns the whole ratio. It
// returns +Inf when the statistics cannot be read.
func logOverhead(t *testing.T, ctx context.Context, c *cluster, phase string, logical int64, records int) float64 {
	t.Helper()
	shards, meta, err := c.storedBytes(ctx)
	if err != nil {
		t.Errorf("%s: %v", phase, err)
		return math.Inf(1)
	}
	t.Logf("overhead %s: %d logical bytes in %d records; %d nodes hold %d shard bytes (%.2f×) and %d directory bytes (%.2f×, %d per record), %.2f× in all",
		phase, logical, records, len(c.running()), shards, float64(shards)/float64(logical),
		meta, float64(meta)/float64(logical), meta/int64(records), float64(shards+meta)/float64(logical))
	return float64(shards+meta) / float64(logical)
}
