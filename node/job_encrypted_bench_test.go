package node

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/network/quicnet"
)

// BenchmarkEncryptedJob runs the mean of every field per sensor and hour
// of the whole ULB file R1.txt on three nodes, as a plain job and as an
// encrypted one, and reports for each the readings aggregated per second
// and the bytes all three transports sent. The encrypted job's time and
// bytes include its submission, where the submitting node reads the
// segments and stores their ciphertexts.
//
//	go test -run XXX -bench EncryptedJob -benchtime 3x ./node
func BenchmarkEncryptedJob(b *testing.B) {
	nodes, clients := startTrioB(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	for _, c := range clients {
		for name, scope := range map[string]string{"jobs": "", "hejobs": sealedPrefix} {
			u, err := c.CreateUser(ctx, name)
			if err != nil {
				b.Fatal(err)
			}
			g := api.Grant{KeyOrPrefix: scope, User: name, PublicKeys: u.PublicKeys, Right: api.RightRead}
			if err := clients[0].Grant(ctx, "", "library", g); err != nil {
				b.Fatal(err)
			}
		}
	}
	all := ulbReadings(b, math.MaxInt)
	if _, err := clients[0].WriteReadings(ctx, "", "library", all); err != nil {
		b.Fatal(err)
	}

	plain := api.JobRequest{Aggregates: []string{"count", "sum", "mean"}, By: "sensor,hour", Reader: "jobs"}
	sealed := plain
	sealed.Encrypted, sealed.Reader = true, "hejobs"
	var plainTime, sealedTime time.Duration
	var plainBytes, sealedBytes uint64
	b.ResetTimer()
	for range b.N {
		d, n := runJobMeasured(ctx, b, nodes, clients[0], plain)
		plainTime, plainBytes = plainTime+d, plainBytes+n
		d, n = runJobMeasured(ctx, b, nodes, clients[0], sealed)
		sealedTime, sealedBytes = sealedTime+d, sealedBytes+n
	}
	readings := float64(len(all) * b.N)
	b.ReportMetric(readings/plainTime.Seconds(), "plain-readings/s")
	b.ReportMetric(readings/sealedTime.Seconds(), "encrypted-readings/s")
	b.ReportMetric(float64(plainBytes)/float64(b.N)/1e6, "plain-MB/job")
	b.ReportMetric(float64(sealedBytes)/float64(b.N)/1e6, "encrypted-MB/job")
}

// runJobMeasured submits a job, waits for it, and returns the time from
// submission to result and the bytes the nodes' transports sent meanwhile.
func runJobMeasured(ctx context.Context, b *testing.B, nodes []*Node, c *api.Client, req api.JobRequest) (time.Duration, uint64) {
	b.Helper()
	before := sentBytes(nodes)
	began := time.Now()
	info, err := c.SubmitJob(ctx, "", "library", req)
	if err != nil {
		b.Fatal(err)
	}
	for {
		st, err := c.Job(ctx, info.ID)
		if err != nil {
			b.Fatal(err)
		}
		if st.Done {
			if st.Failed != 0 || st.Committed != st.Units {
				b.Fatalf("job status %+v, want every unit committed", st)
			}
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(began), sentBytes(nodes) - before
}

// sentBytes returns the bytes of every message the nodes' transports
// have sent, frame headers included.
func sentBytes(nodes []*Node) uint64 {
	var total uint64
	for _, n := range nodes {
		for _, t := range n.tr.(*quicnet.Transport).Stats().Out {
			total += t.Bytes
		}
	}
	return total
}
