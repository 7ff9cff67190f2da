package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/yuinet/yui/api"
)

// TestReadBatchOverHTTP writes a batch and reads it back with one batched
// read, with a missing key among the keys.
func TestReadBatchOverHTTP(t *testing.T) {
	_, clients := startTrio(t)
	ctx := context.Background()
	var lines []api.BatchLine
	var keys []string
	for i := range 20 {
		key := fmt.Sprintf("r/%02d", i)
		keys = append(keys, key)
		lines = append(lines, api.NewBatchLine(key, []byte{byte(i), 0xff, 'x'}, "application/octet-stream"))
	}
	if _, err := clients[0].PutBatch(ctx, "", "lab", lines); err != nil {
		t.Fatalf("PutBatch: %v", err)
	}

	got, err := clients[0].GetBatch(ctx, "", "lab", append(keys, "missing"))
	if err != nil {
		t.Fatalf("GetBatch: %v", err)
	}
	for i, key := range keys {
		v := got[i]
		if err := v.Err(); err != nil {
			t.Errorf("%s: %v", key, err)
			continue
		}
		if v.Key != key || v.Record == nil || v.Record.Key != key {
			t.Errorf("result %d is for %q (record %+v), want %q", i, v.Key, v.Record, key)
		}
		if want := []byte{byte(i), 0xff, 'x'}; !bytes.Equal(v.Value, want) {
			t.Errorf("%s: value %x, want %x", key, v.Value, want)
		}
	}
	if err := got[len(keys)].Err(); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("missing key: error %v, want api.ErrNotFound", err)
	}

	if _, err := clients[0].GetBatch(ctx, "", "lab", nil); !errors.Is(err, api.ErrInvalid) {
		t.Errorf("empty batched read: error %v, want api.ErrInvalid", err)
	}
}
