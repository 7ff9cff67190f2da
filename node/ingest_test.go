package node

import (
	"context"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/sensor"
)

// recordingSink stores readings in memory, so that tests of the ingest
// paths can check what reached the sink before the search layer exists.
type recordingSink struct {
	mu     sync.Mutex
	writes []sinkWrite
	err    error // returned by every Write when set
}

type sinkWrite struct {
	user, namespace string
	readings        []sensor.Reading
}

func (s *recordingSink) Write(_ context.Context, user, namespace string, readings []sensor.Reading) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.writes = append(s.writes, sinkWrite{user, namespace, readings})
	return nil
}

func (s *recordingSink) all() []sinkWrite {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sinkWrite(nil), s.writes...)
}

func ingestNode(t *testing.T) (*Node, *api.Client) {
	t.Helper()
	n := startLocal(t, filepath.Join(t.TempDir(), "n"))
	return n, api.NewClient(n.APIAddr())
}

func TestIngestWithoutSearchLayer(t *testing.T) {
	n, client := ingestNode(t)
	n.readings = nil // as before the search layer has started
	r := sensor.Reading{Source: "R1-12", Time: time.Unix(1299232800, 0).UTC(),
		Fields: []sensor.Field{{Name: "t", Value: sensor.Number(1)}}}

	_, err := client.WriteReadings(context.Background(), "", "lab", []sensor.Reading{r})
	var se *api.StatusError
	if !errors.As(err, &se) {
		t.Fatalf("error = %v, want a StatusError", err)
	}
	if se.Status != http.StatusServiceUnavailable {
		t.Errorf("status = %d, want 503", se.Status)
	}
	if !strings.Contains(err.Error(), "not enabled") {
		t.Errorf("error %q does not say readings are not enabled", err)
	}
}

func TestIngestStoresAndListsRejects(t *testing.T) {
	n, client := ingestNode(t)
	sink := &recordingSink{}
	n.readings = sink

	body := strings.Join([]string{
		`{"source":"R1-12","time":"2011-03-04T10:00:00Z","fields":{"temperature":21.2,"status":"ok"},"location":{"lat":50.8,"lon":4.4}}`,
		`{"source":"R1-13","time":1299232800000,"fields":{"temperature":"warm","x":true}}`,
		``,
		`{"source":"R1-14","time":1299232860000,"fields":{"t":20},"location":{"x":12.5,"y":3}}`,
		`{"source":"R1-15"`,
		`{"source":"R1-16","fields":{"t":1}}`,
	}, "\n")
	before := time.Now()
	res, err := client.PostReadings(context.Background(), "", "lab", []byte(body))
	if err != nil {
		t.Fatal(err)
	}

	if res.Stored != 3 {
		t.Errorf("stored = %d, want 3", res.Stored)
	}
	if res.Rejected != 2 || len(res.Rejections) != 2 {
		t.Fatalf("rejected = %d %+v, want lines 2 and 5", res.Rejected, res.Rejections)
	}
	if l := res.Rejections[0]; l.Line != 2 || !strings.Contains(l.Error, `field "x" is boolean true`) {
		t.Errorf("first rejection = %+v, want line 2 naming field x", l)
	}
	if l := res.Rejections[1]; l.Line != 5 || !strings.Contains(l.Error, "invalid JSON") {
		t.Errorf("second rejection = %+v, want line 5 as invalid JSON", l)
	}

	writes := sink.all()
	if len(writes) != 1 {
		t.Fatalf("sink got %d writes, want 1", len(writes))
	}
	w := writes[0]
	if w.user != api.DefaultUser || w.namespace != "lab" {
		t.Errorf("write as %q to %q, want the default user to lab", w.user, w.namespace)
	}
	var sources []string
	for _, r := range w.readings {
		sources = append(sources, r.Source)
	}
	if strings.Join(sources, ",") != "R1-12,R1-14,R1-16" {
		t.Errorf("sink got sources %v, want R1-12, R1-14, R1-16 in order", sources)
	}
	if v, _ := w.readings[0].Get("status"); !v.Equal(sensor.Text("ok")) {
		t.Errorf("status field = %v, want \"ok\"", v)
	}
	if got := ingestCount(n, "http", "stored"); got != 3 {
		t.Errorf("stored readings counter = %v, want 3", got)
	}
	if got := ingestCount(n, "http", "rejected"); got != 2 {
		t.Errorf("rejected readings counter = %v, want 2", got)
	}
	if arrived := w.readings[2].Time; arrived.Before(before.Add(-time.Second)) || arrived.After(time.Now()) {
		t.Errorf("reading without a time got %v, want its arrival time", arrived)
	}
}

func TestIngestBodyTooLarge(t *testing.T) {
	n, client := ingestNode(t)
	sink := &recordingSink{}
	n.readings = sink

	// Lines of 60 KiB that fail at their first key keep decoding cheap, so
	// the test spends its time on the limit, not on JSON.
	line := `{"pad":"` + strings.Repeat("x", 60<<10) + `"}` + "\n"
	body := strings.Repeat(line, api.MaxIngestBody/len(line)+1)

	_, err := client.PostReadings(context.Background(), "", "lab", []byte(body))
	if !errors.Is(err, api.ErrTooLarge) {
		t.Errorf("body with Content-Length over the limit: %v, want ErrTooLarge", err)
	}

	// Without a Content-Length the node finds out while reading.
	req, _ := http.NewRequest(http.MethodPost, client.Base+api.ReadingsPath("lab"), io.MultiReader(strings.NewReader(body)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("chunked body: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked body over the limit: status %d, want 413", resp.StatusCode)
	}

	if got := sink.all(); len(got) != 0 {
		t.Errorf("sink got %d writes from bodies over the limit, want none", len(got))
	}
}

func TestIngestRejectsBadRequests(t *testing.T) {
	n, client := ingestNode(t)
	sink := &recordingSink{}
	n.readings = sink
	ctx := context.Background()
	one := []byte(`{"source":"s","time":1299232800000,"fields":{"t":1}}`)

	if _, err := client.PostReadings(ctx, "", "Bad Name", one); !errors.Is(err, api.ErrInvalid) {
		t.Errorf("namespace \"Bad Name\": %v, want ErrInvalid", err)
	}
	if _, err := client.PostReadings(ctx, "no/such user", "lab", one); !errors.Is(err, api.ErrInvalid) {
		t.Errorf("invalid user name: %v, want ErrInvalid", err)
	}
	if _, err := client.PostReadings(ctx, "", "lab", []byte("\n \n")); !errors.Is(err, api.ErrInvalid) {
		t.Errorf("blank body: %v, want ErrInvalid", err)
	}
	if got := sink.all(); len(got) != 0 {
		t.Errorf("sink got %d writes from rejected requests, want none", len(got))
	}
}

func TestIngestRejectsReadingWithoutFields(t *testing.T) {
	n, client := ingestNode(t)
	sink := &recordingSink{}
	n.readings = sink
	ctx := context.Background()

	_, err := client.PostReadings(ctx, "", "lab", []byte(`{"source":"bad"}`))
	var se *api.StatusError
	if !errors.As(err, &se) {
		t.Fatalf("error = %v, want a StatusError", err)
	}
	if se.Status != http.StatusBadRequest {
		t.Errorf("status = %d, want 400", se.Status)
	}
	if !strings.Contains(err.Error(), `"bad"`) {
		t.Errorf("error %q does not name the source", err)
	}
	if !strings.Contains(err.Error(), "no fields") {
		t.Errorf("error %q does not say the reading has no fields", err)
	}

	// In a body with a valid reading, the reading without fields is
	// listed as rejected and the other is stored.
	body := "{\"source\":\"bad\"}\n{\"source\":\"good\",\"fields\":{\"t\":1}}"
	res, err := client.PostReadings(ctx, "", "lab", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if res.Stored != 1 {
		t.Errorf("stored = %d, want 1", res.Stored)
	}
	if res.Rejected != 1 || len(res.Rejections) != 1 || res.Rejections[0].Line != 1 {
		t.Fatalf("rejections = %d %+v, want line 1", res.Rejected, res.Rejections)
	}
	writes := sink.all()
	if len(writes) != 1 || len(writes[0].readings) != 1 || writes[0].readings[0].Source != "good" {
		t.Errorf("sink got %+v, want one write of the reading from good", writes)
	}
}

func TestIngestSinkFailureIsNotAcknowledged(t *testing.T) {
	n, client := ingestNode(t)
	n.readings = &recordingSink{err: errors.New("disk on fire")}

	res, err := client.PostReadings(context.Background(), "", "lab", []byte(`{"source":"s","time":1299232800000,"fields":{"t":1}}`))
	if err == nil {
		t.Fatalf("sink failure acknowledged: %+v", res)
	}
	var se *api.StatusError
	if !errors.As(err, &se) || se.Status != http.StatusInternalServerError {
		t.Errorf("error = %v, want status 500", err)
	}
}

func TestReadIngestBodyLimits(t *testing.T) {
	line := `{"source":"s","time":1299232800000,"fields":{"t":1}}` + "\n"
	_, err := readIngestBody(strings.NewReader(strings.Repeat(line, 11)), time.Now(), 10)
	if !errors.Is(err, api.ErrTooLarge) || !strings.Contains(err.Error(), "10 readings") {
		t.Errorf("11 readings with a limit of 10: %v, want ErrTooLarge naming the limit", err)
	}
	if b, err := readIngestBody(strings.NewReader(strings.Repeat(line, 10)), time.Now(), 10); err != nil || len(b.readings) != 10 {
		t.Errorf("10 readings with a limit of 10: %v, want all 10", err)
	}

	body := line + strings.Repeat("{}\n", api.MaxRejectedLines+5)
	b, err := readIngestBody(strings.NewReader(body), time.Now(), api.MaxIngestReadings)
	if err != nil {
		t.Fatal(err)
	}
	if b.result.Rejected != api.MaxRejectedLines+5 || len(b.result.Rejections) != api.MaxRejectedLines {
		t.Errorf("rejected %d, listed %d; want %d counted and %d listed",
			b.result.Rejected, len(b.result.Rejections), api.MaxRejectedLines+5, api.MaxRejectedLines)
	}
}

// ingestCount returns the value of the ingest counter of a path and
// result.
func ingestCount(n *Node, path, result string) float64 {
	var m dto.Metric
	n.ingest.readings.WithLabelValues(path, result).Write(&m)
	return m.GetCounter().GetValue()
}
