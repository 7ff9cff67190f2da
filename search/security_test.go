package search

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/sensor"
	"github.com/yuinet/yui/storage/store"
)

func TestQueryNeedsReadAccess(t *testing.T) {
	c := newCluster(t, 4)
	ctx := context.Background()
	d := writeDataset(t, c, "library", 300)
	owner, other := c.node(0), c.node(3)
	q := Query{Namespace: "library", Sensor: "20"}

	got, err := other.querier.Query(ctx, "", q)
	if !errors.Is(err, store.ErrForbidden) {
		t.Errorf("query by a user without access: %v, want ErrForbidden", err)
	}
	if got != nil {
		t.Errorf("query by a user without access returned %d readings", len(got))
	}
	if _, err := other.querier.Aggregate(ctx, "", q, BySensor); !errors.Is(err, store.ErrForbidden) {
		t.Errorf("aggregate by a user without access: %v, want ErrForbidden", err)
	}
	err = other.writer.Write(ctx, "", "library", d.all[:1])
	if !errors.Is(err, store.ErrForbidden) {
		t.Errorf("write by a user without access: %v, want ErrForbidden", err)
	}
	if _, err := owner.querier.Query(ctx, "", Query{Namespace: "absent", Sensor: "20"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("query of a namespace that does not exist: %v, want ErrNotFound", err)
	}

	reader, err := other.store.CreateUser("reader")
	if err != nil {
		t.Fatal(err)
	}
	if err := owner.store.Grant(ctx, "", "library", "", reader, store.Read); err != nil {
		t.Fatalf("Grant: %v", err)
	}
	got, err = other.querier.Query(ctx, "reader", q)
	if err != nil {
		t.Fatalf("query by a granted reader: %v", err)
	}
	assertSameReadings(t, got, bruteQuery(d.all, q))
}

func TestIndexHoldersSeeNoPlaintext(t *testing.T) {
	c := newCluster(t, 4, "pressure")
	ctx := context.Background()
	const (
		source = "boiler-room-north-17"
		status = "overheated-valve-zz"
		field  = "pressure"
		number = 1234.5678
	)
	start := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	var readings []sensor.Reading
	for i := range 40 {
		readings = append(readings, sensor.Reading{
			Source:   source,
			Time:     start.Add(time.Duration(i) * 5 * time.Minute),
			Location: sensor.GeoPoint(50.8466, 4.3528),
			Fields: []sensor.Field{
				{Name: "status", Value: sensor.Text(status)},
				{Name: field, Value: sensor.Number(number)},
			},
		})
	}
	if err := c.node(0).writer.Write(ctx, "", "plant", readings); err != nil {
		t.Fatalf("Write: %v", err)
	}

	// The index must be in use, or the scan below proves nothing.
	got, err := c.node(0).querier.Query(ctx, "", Query{Namespace: "plant",
		Where: []Condition{{Field: field, Op: Equal, Value: sensor.Number(number)}}})
	if err != nil || len(got) != len(readings) {
		t.Fatalf("query by the indexed number: %d readings, %v; want %d", len(got), err, len(readings))
	}

	bits := binary.BigEndian.AppendUint64(nil, math.Float64bits(number))
	secrets := map[string][]byte{
		"source id":        []byte(source),
		"text value":       []byte(status),
		"number as float":  bits,
		"number as text":   []byte("1234.5678"),
		"segment key":      []byte(segmentPrefix),
		"segment encoding": []byte(field),
	}
	postings := 0
	for i, n := range c.all() {
		err := n.eng.Scan(nil, nil, func(key, value []byte) error {
			if key[0] == postingPrefix {
				postings++
			}
			for what, secret := range secrets {
				if bytes.Contains(key, secret) || bytes.Contains(value, secret) {
					t.Errorf("node %d stores the %s in plaintext under key %x", i, what, key)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if postings == 0 {
		t.Fatal("no node stores any posting")
	}
}

// TestForgedEntriesAreDropped adds entries under a real token that were
// not sealed with the namespace's key, as a node that saw the token in
// traffic could, and checks that the query result does not change.
func TestForgedEntriesAreDropped(t *testing.T) {
	c := newCluster(t, 4)
	ctx := context.Background()
	d := writeDataset(t, c, "library", 300)
	owner := c.node(0)
	indexKey, err := owner.store.IndexKey(ctx, "", "library")
	if err != nil {
		t.Fatal(err)
	}
	k, err := deriveKeys(indexKey)
	if err != nil {
		t.Fatal(err)
	}
	forger, err := deriveKeys([store.IndexKeySize]byte{9})
	if err != nil {
		t.Fatal(err)
	}
	token := k.sensorToken("20")
	forged := []wire.IndexPosting{
		{Token: token, Entry: forger.seal(token, []byte(segmentPrefix+"2006-11-13T17/forged"))},
		{Token: token, Entry: []byte("not a sealed entry at all, just bytes")},
	}
	for _, n := range c.all() {
		resp, err := c.node(3).Request(ctx, n.Self(), &wire.IndexAdd{Namespace: "library", Postings: forged})
		if err != nil || resp.Type() != wire.TypeAck {
			t.Fatalf("IndexAdd of forged entries: %v, %v", resp, err)
		}
	}

	q := Query{Namespace: "library", Sensor: "20"}
	got, err := owner.querier.Query(ctx, "", q)
	if err != nil {
		t.Fatalf("query with forged entries in the index: %v", err)
	}
	assertSameReadings(t, got, bruteQuery(d.all, q))
}
