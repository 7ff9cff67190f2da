package store

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
)

// TestListAfterChurn writes records, then adds two nodes closer to the
// directory than every node that holds it, and lists before any repair
// has run: the two closest holders hold nothing, and the third has every
// record.
func TestListAfterChurn(t *testing.T) {
	params := smallParams(1, 1, 3)
	c := newCluster(t, 5, params)
	ctx := context.Background()
	gw := c.node(0)
	const records = 10
	for i := range records {
		key := fmt.Sprint("k", i)
		if _, err := gw.store.Put(ctx, "", "churn", key, strings.NewReader("value "+key), PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	dir := DirectoryID("churn", 0)
	c.addCloser(10, params, dir)
	c.addCloser(11, params, dir)

	list, err := gw.store.List(ctx, "", "churn", "")
	if err != nil {
		t.Fatalf("List after churn: %v", err)
	}
	if len(list) != records {
		t.Fatalf("List after churn returned %d records, want %d", len(list), records)
	}
	for i := range records {
		key := fmt.Sprint("k", i)
		var got bytes.Buffer
		if _, err := gw.store.Get(ctx, "", "churn", key, &got, GetOptions{}); err != nil || got.String() != "value "+key {
			t.Errorf("Get %s after churn = %q, %v", key, got.String(), err)
		}
	}
}
