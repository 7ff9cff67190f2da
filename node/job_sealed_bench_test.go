package node

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/sensor"
)

// BenchmarkSealedJob writes the whole ULB file R1.txt on three nodes to
// a plain namespace and to a sealed one, then runs the mean of every
// field per hour three ways: as a plain job, as an encrypted job that
// the submitting node encrypts at submit, and as an encrypted job over
// the ciphertexts stored at ingest. It also runs the mean per sensor
// over the sealed namespace, whose 19 page sums workers store as
// records, once as is and once with --verify 2. It reports ingest readings per second and the bytes stored
// and sent for each namespace, and each job's readings per second and
// bytes sent, submission included.
//
//	go test -run XXX -bench SealedJob -benchtime 3x ./node
func BenchmarkSealedJob(b *testing.B) {
	nodes, clients := startTrioB(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	var readers, sealedReaders []*api.User
	for _, c := range clients {
		u, err := c.CreateUser(ctx, "jobs")
		if err != nil {
			b.Fatal(err)
		}
		readers = append(readers, u)
		if u, err = c.CreateUser(ctx, "hejobs"); err != nil {
			b.Fatal(err)
		}
		sealedReaders = append(sealedReaders, u)
	}
	all := ulbReadings(b, math.MaxInt)

	var plainIngest, sealedIngest time.Duration
	var plainSent, sealedSent uint64
	var plainJob, submitJob, sealedJob, sensorJob, verifiedJob jobCost
	plainReq := api.JobRequest{Aggregates: []string{"count", "sum", "mean"}, By: "hour", Reader: "jobs"}
	encReq := plainReq
	encReq.Encrypted, encReq.Reader = true, "hejobs"
	sensorReq := encReq
	sensorReq.By = "sensor"
	verifiedReq := sensorReq
	verifiedReq.Verify = 2
	var plainStored, sealedStored [2]uint64
	b.ResetTimer()
	for i := range b.N {
		plainNS, sealedNS := fmt.Sprintf("plain%d", i), fmt.Sprintf("sealed%d", i)
		if _, err := clients[0].SealNamespace(ctx, "", sealedNS, api.SealRequest{}); err != nil {
			b.Fatal(err)
		}
		for j := range clients {
			if err := grantAll(ctx, clients[0], readers[j], "jobs", "", plainNS); err != nil {
				b.Fatal(err)
			}
			if err := grantAll(ctx, clients[0], sealedReaders[j], "hejobs", sealedPrefix, plainNS, sealedNS); err != nil {
				b.Fatal(err)
			}
		}
		d, sent := timedWrite(ctx, b, nodes, clients[0], plainNS, all)
		plainIngest, plainSent = plainIngest+d, plainSent+sent
		d, sent = timedWrite(ctx, b, nodes, clients[0], sealedNS, all)
		sealedIngest, sealedSent = sealedIngest+d, sealedSent+sent
		plainStored = storedBytes(ctx, b, nodes[0], plainNS)
		sealedStored = storedBytes(ctx, b, nodes[0], sealedNS)

		plainJob.add(runJobMeasured(ctx, b, nodes, clients[0], plainNS, plainReq))
		submitJob.add(runJobMeasured(ctx, b, nodes, clients[0], plainNS, encReq))
		sealedJob.add(runJobMeasured(ctx, b, nodes, clients[0], sealedNS, encReq))
		sensorJob.add(runJobMeasured(ctx, b, nodes, clients[0], sealedNS, sensorReq))
		verifiedJob.add(runJobMeasured(ctx, b, nodes, clients[0], sealedNS, verifiedReq))
	}
	readings := float64(len(all) * b.N)
	runs := float64(b.N)
	b.ReportMetric(readings/plainIngest.Seconds(), "plain-ingest-readings/s")
	b.ReportMetric(readings/sealedIngest.Seconds(), "sealed-ingest-readings/s")
	b.ReportMetric(float64(plainSent)/runs/1e6, "plain-ingest-sent-MB")
	b.ReportMetric(float64(sealedSent)/runs/1e6, "sealed-ingest-sent-MB")
	b.ReportMetric(float64(plainStored[0])/1e6, "segments-MB")
	b.ReportMetric(float64(sealedStored[1])/1e6, "ciphertexts-MB")
	b.ReportMetric(readings/plainJob.total().Seconds(), "plain-readings/s")
	b.ReportMetric(readings/submitJob.total().Seconds(), "submit-encrypted-readings/s")
	b.ReportMetric(readings/sealedJob.total().Seconds(), "sealed-readings/s")
	b.ReportMetric(float64(plainJob.submitBytes+plainJob.runBytes)/runs/1e6, "plain-MB/job")
	b.ReportMetric(float64(submitJob.submitBytes+submitJob.runBytes)/runs/1e6, "submit-encrypted-MB/job")
	b.ReportMetric(float64(sealedJob.submitBytes+sealedJob.runBytes)/runs/1e6, "sealed-MB/job")
	b.ReportMetric(sealedJob.submit.Seconds()/runs, "sealed-submit-s/job")
	b.ReportMetric(readings/sensorJob.total().Seconds(), "sealed-by-sensor-readings/s")
	b.ReportMetric(float64(sensorJob.submitBytes+sensorJob.runBytes)/runs/1e6, "sealed-by-sensor-MB/job")
	b.ReportMetric(readings/verifiedJob.total().Seconds(), "sealed-by-sensor-verify2-readings/s")
	b.ReportMetric(float64(verifiedJob.submitBytes+verifiedJob.runBytes)/runs/1e6, "sealed-by-sensor-verify2-MB/job")
}

// grantAll grants user u, called name, read access to prefix in each
// namespace.
func grantAll(ctx context.Context, c *api.Client, u *api.User, name, prefix string, namespaces ...string) error {
	for _, ns := range namespaces {
		g := api.Grant{KeyOrPrefix: prefix, User: name, PublicKeys: u.PublicKeys, Right: api.RightRead}
		if err := c.Grant(ctx, "", ns, g); err != nil {
			return err
		}
	}
	return nil
}

// timedWrite writes readings to ns in requests of at most
// api.MaxIngestReadings and returns the time and the bytes all nodes sent.
func timedWrite(ctx context.Context, b *testing.B, nodes []*Node, c *api.Client, ns string, readings []sensor.Reading) (time.Duration, uint64) {
	b.Helper()
	before := sentBytes(nodes)
	began := time.Now()
	for start := 0; start < len(readings); start += api.MaxIngestReadings {
		if _, err := c.WriteReadings(ctx, "", ns, readings[start:min(start+api.MaxIngestReadings, len(readings))]); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(began), sentBytes(nodes) - before
}

// storedBytes returns the sizes of the plaintext segments of ns and of
// its ciphertext and name records, as the owner lists them.
func storedBytes(ctx context.Context, b *testing.B, owner *Node, ns string) [2]uint64 {
	b.Helper()
	var out [2]uint64
	for i, prefixes := range [][]string{{"readings/"}, {sealedSegmentPrefix, sourceNamePrefix}} {
		for _, prefix := range prefixes {
			infos, err := owner.storage.store.List(ctx, "", ns, prefix)
			if err != nil {
				b.Fatal(err)
			}
			for _, info := range infos {
				out[i] += info.Size
			}
		}
	}
	return out
}
