package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/sensor"
)

// benchReadings is the readings one iteration of the HTTP and MQTT
// benchmarks sends.
const benchReadings = 5000

// benchReading returns reading i of a synthetic sensor log, with the
// fields of the ULB library motes.
func benchReading(i int) sensor.Reading {
	return sensor.Reading{
		Source: fmt.Sprintf("mote-%d", i%50),
		Time:   time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second),
		Fields: []sensor.Field{
			{Name: "seq", Value: sensor.Number(float64(i))},
			{Name: "temperature", Value: sensor.Number(20 + float64(i%100)/10)},
			{Name: "humidity", Value: sensor.Number(40 + float64(i%300)/10)},
			{Name: "voltage", Value: sensor.Number(2.8)},
		},
	}
}

func reportRate(b *testing.B, readings int, elapsed time.Duration) {
	b.ReportMetric(float64(readings)/elapsed.Seconds(), "readings/s")
}

// BenchmarkIngestImport measures 'yui import' of the ULB library's R1.txt
// (7,563 readings) into a 3-node cluster: parsing, HTTP and storage.
func BenchmarkIngestImport(b *testing.B) {
	c := startIngestCluster(b)
	path := sharedSensorData(b, "ulb-library1/R1.txt")
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		out, err := c.nodes[0].yui(ctx, "import", path, "--ns", fmt.Sprintf("bench-import-%d", i))
		cancel()
		if err != nil || !strings.Contains(string(out), "7563 stored") {
			b.Fatalf("import: %v\n%s", err, out)
		}
	}
	reportRate(b, 7563*b.N, time.Since(start))
}

// BenchmarkIngestHTTP measures requests of benchReadings readings posted
// to one node of a 3-node cluster.
func BenchmarkIngestHTTP(b *testing.B) {
	c := startIngestCluster(b)
	rs := make([]sensor.Reading, benchReadings)
	for i := range rs {
		rs[i] = benchReading(i)
	}
	body, err := api.EncodeReadings(nil, rs)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		res, err := c.client.PostReadings(context.Background(), "", fmt.Sprintf("bench-http-%d", i), body)
		if err != nil || res.Stored != benchReadings {
			b.Fatalf("post: %+v, %v", res, err)
		}
	}
	reportRate(b, benchReadings*b.N, time.Since(start))
}

// BenchmarkIngestMQTT measures benchReadings messages at QoS 1 from one
// sensor's mosquitto_pub connection to one node of a 3-node cluster.
func BenchmarkIngestMQTT(b *testing.B) {
	benchmarkMQTT(b, 1)
}

// BenchmarkIngestMQTTParallel measures benchReadings messages at QoS 1
// from 8 sensors' mosquitto_pub connections at once.
func BenchmarkIngestMQTTParallel(b *testing.B) {
	benchmarkMQTT(b, 8)
}

func benchmarkMQTT(b *testing.B, clients int) {
	c := startIngestCluster(b)
	// Each client is one sensor, named by its topic as MQTT sensors
	// usually are, so its payloads carry no source.
	payloads := make([][]byte, clients)
	for i := range benchReadings {
		r := benchReading(i)
		k := i % clients
		payloads[k] = fmt.Appendf(payloads[k], `{"time":%q,"fields":{"seq":%d,"temperature":%v,"humidity":%v,"voltage":2.8}}`+"\n",
			r.Time.Format(time.RFC3339Nano), i, 20+float64(i%100)/10, 40+float64(i%300)/10)
	}
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		var wg sync.WaitGroup
		for k := range clients {
			wg.Go(func() {
				err := c.publish(b, payloads[k], "-q", "1", "-l", "-i", fmt.Sprintf("sensor-%d", k),
					"-t", fmt.Sprintf("yui/bench-mqtt-%d/sensor-%d", i, k))
				if err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
	}
	reportRate(b, benchReadings*b.N, time.Since(start))
}

// BenchmarkIngestHTTPOneReading measures 400 requests of one reading
// each, sent by 8 clients at once, as sensors that post every reading on
// its own do.
func BenchmarkIngestHTTPOneReading(b *testing.B) {
	const clients, requests = 8, 400
	c := startIngestCluster(b)
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		var wg sync.WaitGroup
		for k := range clients {
			wg.Go(func() {
				for j := k; j < requests; j += clients {
					r := benchReading(j)
					r.Source = fmt.Sprintf("sensor-%d", k)
					res, err := c.client.WriteReadings(context.Background(), "", fmt.Sprintf("bench-small-%d", i), []sensor.Reading{r})
					if err != nil || res.Stored != 1 {
						b.Errorf("post: %+v, %v", res, err)
						return
					}
				}
			})
		}
		wg.Wait()
	}
	reportRate(b, requests*b.N, time.Since(start))
}
