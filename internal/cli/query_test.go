package cli

import (
	"strings"
	"testing"
	"time"
)

func TestParseCondition(t *testing.T) {
	tests := []struct {
		in, field, op, value string
	}{
		{"status=open", "status", "=", `"open"`},
		{`room="12"`, "room", "=", `"12"`},
		{"temp>=21.5", "temp", ">=", "21.5"},
		{"temp < -3", "temp", "<", "-3"},
		{"seq!=7", "seq", "!=", "7"},
		{"light>2", "light", ">", "2"},
	}
	for _, tt := range tests {
		c, err := parseCondition(tt.in)
		if err != nil {
			t.Errorf("parseCondition(%q): %v", tt.in, err)
			continue
		}
		if c.Field != tt.field || c.Op != tt.op || string(c.Value) != tt.value {
			t.Errorf("parseCondition(%q) = %s %s %s, want %s %s %s", tt.in, c.Field, c.Op, c.Value, tt.field, tt.op, tt.value)
		}
	}
	for _, bad := range []string{"", "=open", "status"} {
		if c, err := parseCondition(bad); err == nil {
			t.Errorf("parseCondition(%q) = %+v, want an error", bad, c)
		}
	}
}

func TestQueryFlagsRequest(t *testing.T) {
	f := queryFlags{sensor: "12", from: "2006-11-13", to: "2006-11-13T18:30:00+01:00",
		where: []string{"col7=20"}, nearXY: "20,15,5", agg: "count, mean", by: "hour"}
	req, err := f.request()
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	if !req.From.Equal(time.Date(2006, 11, 13, 0, 0, 0, 0, time.UTC)) || !req.To.Equal(time.Date(2006, 11, 13, 17, 30, 0, 0, time.UTC)) {
		t.Errorf("times %v to %v", req.From, req.To)
	}
	if req.Near == nil || *req.Near.X != 20 || *req.Near.Y != 15 || req.Near.Radius != 5 || req.Near.Lat != nil {
		t.Errorf("near %+v, want x 20, y 15, radius 5", req.Near)
	}
	if strings.Join(req.Aggregates, ",") != "count,mean" || req.By != "hour" {
		t.Errorf("aggregates %v by %q", req.Aggregates, req.By)
	}

	for _, bad := range []queryFlags{
		{from: "yesterday"},
		{near: "50.8,4.3"},
		{near: "1,2,3", nearXY: "1,2,3"},
		{agg: "count,median"},
		{by: "sensor"},
		{limit: -1},
	} {
		if _, err := bad.request(); err == nil {
			t.Errorf("flags %+v: no error", bad)
		}
	}
}
