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
// encrypted one. It reports for each the readings aggregated per second
// and the bytes that all three transports sent. The encrypted job's time
// and bytes include its submission, where the submitting node reads the
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
	var plainRun, sealedRun jobCost
	b.ResetTimer()
	for range b.N {
		plainRun.add(runJobMeasured(ctx, b, nodes, clients[0], "library", plain))
		sealedRun.add(runJobMeasured(ctx, b, nodes, clients[0], "library", sealed))
	}
	readings := float64(len(all) * b.N)
	jobs := float64(b.N)
	b.ReportMetric(readings/plainRun.total().Seconds(), "plain-readings/s")
	b.ReportMetric(readings/sealedRun.total().Seconds(), "encrypted-readings/s")
	b.ReportMetric(float64(plainRun.submitBytes+plainRun.runBytes)/jobs/1e6, "plain-MB/job")
	b.ReportMetric(float64(sealedRun.submitBytes+sealedRun.runBytes)/jobs/1e6, "encrypted-MB/job")
	b.ReportMetric(sealedRun.submit.Seconds()/jobs, "encrypted-submit-s/job")
	b.ReportMetric(float64(sealedRun.submitBytes)/jobs/1e6, "encrypted-submit-MB/job")
	b.ReportMetric(float64(sealedRun.runBytes)/jobs/1e6, "encrypted-run-MB/job")
}

// jobCost is the time and the bytes sent by every node, from submission
// to the return of SubmitJob and from there to the job's result.
type jobCost struct {
	submit, run           time.Duration
	submitBytes, runBytes uint64
}

func (c *jobCost) add(o jobCost) {
	c.submit += o.submit
	c.run += o.run
	c.submitBytes += o.submitBytes
	c.runBytes += o.runBytes
}

func (c *jobCost) total() time.Duration { return c.submit + c.run }

// runJobMeasured submits a job over ns, waits for it, and returns its
// cost.
func runJobMeasured(ctx context.Context, b *testing.B, nodes []*Node, c *api.Client, ns string, req api.JobRequest) jobCost {
	b.Helper()
	before := sentBytes(nodes)
	began := time.Now()
	info, err := c.SubmitJob(ctx, "", ns, req)
	if err != nil {
		b.Fatal(err)
	}
	submitted, submitBytes := time.Now(), sentBytes(nodes)
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
	return jobCost{submit: submitted.Sub(began), run: time.Since(submitted),
		submitBytes: submitBytes - before, runBytes: sentBytes(nodes) - submitBytes}
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
