package cli

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/node"
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
		{`note="<20"`, "note", "=", `"\u003c20"`},
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
	for _, bad := range []string{"", "=open", "status", "temp=>20", "temp=<3", "temp>>3"} {
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
		{agg: "count", by: "week"},
		{limit: -1},
	} {
		if _, err := bad.request(); err == nil {
			t.Errorf("flags %+v: no error", bad)
		}
	}
}

// TestQueryCommandOnNode imports a small table into a real node and
// queries it back with the command, as CSV and as aggregates.
func TestQueryCommandOnNode(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "node")
	n, err := node.Start(context.Background(), node.Config{
		DataDir: dir, Listen: "127.0.0.1:0", API: "127.0.0.1:0",
		DiscoveryPort: -1, MQTT: node.MQTTOff, Logger: discardLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if out, err := run(t, "import", "--data-dir", dir, "--ns", "lab", writeTemp(t, "lab.csv", smallTable)); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}

	out, err := run(t, "query", "lab", "--data-dir", dir, "--sensor", "1", "--from", "2004-03-10T18:01:00Z", "--csv")
	if err != nil {
		t.Fatalf("query: %v\n%s", err, out)
	}
	want := "time,sensor,lat,lon,x,y,temperature\n" +
		"2004-03-10T18:03:00Z,1,,,,,21.9\n" +
		"2004-03-10T18:06:00Z,1,,,,,22.2\n" +
		"2004-03-10T18:09:00Z,1,,,,,22.5\n"
	if out != want {
		t.Errorf("query printed\n%s\nwant\n%s", out, want)
	}

	out, err = run(t, "query", "lab", "--data-dir", dir, "--where", "temperature>=22", "--agg", "count,max", "--by", "sensor", "--csv")
	if err != nil {
		t.Fatalf("aggregate query: %v\n%s", err, out)
	}
	want = "group,readings,field,count,max\n" +
		"1,2,temperature,2,22.5\n" +
		"2,3,temperature,3,22.6\n" +
		"3,3,temperature,3,22.7\n"
	if out != want {
		t.Errorf("aggregate query printed\n%s\nwant\n%s", out, want)
	}

	out, err = run(t, "query", "lab", "--data-dir", dir, "--agg", "count", "--by", "hour,sensor", "--csv")
	if err != nil {
		t.Fatalf("query by sensor and hour: %v\n%s", err, out)
	}
	want = "group,readings,field,count\n" +
		"1@2004-03-10T18:00:00Z,4,temperature,4\n" +
		"2@2004-03-10T18:00:00Z,4,temperature,4\n" +
		"3@2004-03-10T18:00:00Z,3,temperature,3\n"
	if out != want {
		t.Errorf("query by sensor and hour printed\n%s\nwant\n%s", out, want)
	}

	if _, err := run(t, "query", "lab", "--data-dir", dir, "--user", "nobody"); err == nil {
		t.Error("query as an unknown user succeeded")
	}
}

func TestQueryOutputWording(t *testing.T) {
	if got := formatStat(51.815000000000005); got != "51.815" {
		t.Errorf("formatStat(51.815000000000005) = %q, want 51.815", got)
	}
	if got := formatStat(1234.5678); got != "1234.5678" {
		t.Errorf("formatStat(1234.5678) = %q, want every reported digit", got)
	}
	for n, want := range map[int]string{0: "0 groups", 1: "1 group", 2: "2 groups"} {
		if got := counted(n, "group"); got != want {
			t.Errorf("counted(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestParseQueryTimeEpochMillis(t *testing.T) {
	got, err := parseQueryTime("--from", "1163437200000")
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2006, 11, 13, 17, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("--from 1163437200000 = %v, want %v", got, want)
	}
	for _, bad := range []string{"99999999999999999999", "1e12", "-99999999999999"} {
		if _, err := parseQueryTime("--from", bad); err == nil || !strings.Contains(err.Error(), "epoch milliseconds") {
			t.Errorf("--from %s: error %v, want one naming the accepted forms", bad, err)
		}
	}
}

// TestPrintGroupsSortsSensorsByValue checks that groups by sensor and day
// print with numeric sensor ids in numeric order, each sensor's days in
// the node's order, and other ids after the numbers.
func TestPrintGroupsSortsSensorsByValue(t *testing.T) {
	day1 := time.Date(2006, 11, 13, 0, 0, 0, 0, time.UTC)
	day2 := day1.AddDate(0, 0, 1)
	var groups []api.AggregateGroup
	for _, sensor := range []string{"1", "10", "2", "hall"} {
		for _, day := range []time.Time{day1, day2} {
			groups = append(groups, api.AggregateGroup{Sensor: sensor, Start: &day, Count: 1})
		}
	}
	var out strings.Builder
	if err := printGroups(&out, groups, []string{"count"}, true); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n")[1:] {
		got = append(got, strings.Split(line, ",")[0])
	}
	want := []string{
		"1@2006-11-13T00:00:00Z", "1@2006-11-14T00:00:00Z",
		"2@2006-11-13T00:00:00Z", "2@2006-11-14T00:00:00Z",
		"10@2006-11-13T00:00:00Z", "10@2006-11-14T00:00:00Z",
		"hall@2006-11-13T00:00:00Z", "hall@2006-11-14T00:00:00Z",
	}
	if !slices.Equal(got, want) {
		t.Errorf("groups printed in order %q, want %q", got, want)
	}
}
