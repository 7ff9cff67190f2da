package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/yuinet/yui/api"
)

// TestGrantShowsProgress runs 'yui grant' on a namespace with records
// and checks that it reports how many it re-wrapped and that the reader
// can then read them all.
func TestGrantShowsProgress(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "node")
	n := startWatchedNode(t, dir)
	defer n.Close()
	client := api.NewClient(n.APIAddr())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	const records = 1500
	var lines []api.BatchLine
	for i := range records {
		value := fmt.Sprintf("reading %d", i)
		lines = append(lines, api.BatchLine{Key: fmt.Sprintf("r/%05d", i), Value: &value})
	}
	if _, err := client.PutBatch(ctx, "", "air", lines); err != nil {
		t.Fatalf("put records: %v", err)
	}
	if _, err := client.CreateUser(ctx, "other"); err != nil {
		t.Fatalf("create reader: %v", err)
	}

	out, err := run(t, "grant", "air", "", "other", "read", "--data-dir", dir)
	if err != nil {
		t.Fatalf("yui grant: %v\n%s", err, out)
	}
	want := fmt.Sprintf("re-wrapped %d of %d records of air for other", records, records)
	if !strings.Contains(out, want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
	if !strings.Contains(out, "listing air for other: 0 of 1 directory shards") {
		t.Errorf("output lacks the listing's first progress line:\n%s", out)
	}
	if !strings.Contains(out, "granted other read on air/") {
		t.Errorf("output lacks the grant's confirmation:\n%s", out)
	}
	recs, err := client.ListRecords(ctx, "other", "air", "")
	if err != nil {
		t.Fatalf("list as the reader: %v", err)
	}
	if len(recs) != records {
		t.Errorf("reader lists %d of %d records", len(recs), records)
	}

	out, err = run(t, "grant", "air", "", "other", "read", "--data-dir", dir)
	if err != nil {
		t.Fatalf("yui grant again: %v\n%s", err, out)
	}
	want = fmt.Sprintf("re-wrapped 0 of 0 records of air for other (%d had the key already)", records)
	if !strings.Contains(out, want) {
		t.Errorf("output of the grant sent again lacks %q:\n%s", want, out)
	}
}
