package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/sensor"
	"github.com/yuinet/yui/sensor/importer"
)

// demoNamespace is the namespace the demo stores the ULB readings in.
const demoNamespace = "ulb-library"

// demoBatch is how many readings the demo sends per ingest request: big
// enough to fill whole segments, small enough to show progress.
const demoBatch = 5000

// ulbFolder is the ULB library dataset under shared/data.
var ulbFolder = filepath.Join("sensors", "ulb-library1")

// errNoDataset reports that the demo's dataset was not found.
var errNoDataset = errors.New("no ULB library dataset found")

// findShared returns the path of rel under shared/data in the working
// folder or one of its parents, where a clone of the project sits beside
// the shared data.
func findShared(rel string) (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		path := filepath.Join(dir, "shared", "data", rel)
		if _, err := os.Stat(path); err == nil {
			return path, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no shared/data/%s in this folder or its parents", filepath.ToSlash(rel))
		}
		dir = parent
	}
}

// datasetFiles returns the ULB sensing files R1.txt, R2.txt, ... in the
// folder of --data, or found under shared/data.
func (d *demo) datasetFiles() ([]string, error) {
	dir := d.data
	if dir == "" {
		var err error
		if dir, err = findShared(ulbFolder); err != nil {
			return nil, fmt.Errorf("%w: %v; pass --data FOLDER", errNoDataset, err)
		}
	}
	files, err := filepath.Glob(filepath.Join(dir, "R[0-9]*.txt"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("%w: no R*.txt files in %s; pass --data FOLDER with the ULB library files", errNoDataset, dir)
	}
	slices.Sort(files)
	return files, nil
}

// importDataset reads every ULB sensing file and stores its readings
// through the first node's ingest API, in batches.
func (d *demo) importDataset(ctx context.Context) error {
	files, err := d.datasetFiles()
	if err != nil {
		return err
	}
	m, err := importer.ParseMap(importer.ULBReadingsMap)
	if err != nil {
		return err
	}
	client := api.NewClient(d.alive[0].APIAddr())
	start := time.Now()
	total := 0
	for _, file := range files {
		n, rejected, err := d.importFile(ctx, client, file, m)
		if err != nil {
			return err
		}
		total += n
		fmt.Fprintf(d.out, "Imported %s: %d readings stored, %d rows rejected\n", filepath.Base(file), n, rejected)
	}
	fmt.Fprintf(d.out, "Stored %d readings encrypted in namespace %q in %s\n\n",
		total, demoNamespace, time.Since(start).Round(time.Millisecond))
	return nil
}

func (d *demo) importFile(ctx context.Context, client *api.Client, file string, m importer.Map) (stored, rejected int, err error) {
	var batch []sensor.Reading
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		res, err := client.WriteReadings(ctx, "", demoNamespace, batch)
		if err != nil {
			return fmt.Errorf("store readings of %s: %w", filepath.Base(file), err)
		}
		stored += res.Stored
		batch = batch[:0]
		return nil
	}
	sum, err := importer.ImportFile(file, importer.Options{Map: m, Logger: d.log}, func(r sensor.Reading) error {
		batch = append(batch, r)
		if len(batch) < demoBatch {
			return nil
		}
		return flush()
	})
	if err != nil {
		return stored, 0, err
	}
	if err := flush(); err != nil {
		return stored, 0, err
	}
	return stored, int(sum.Rejected), nil
}

// demoQuery is one query the demo runs before and after nodes fail.
type demoQuery struct {
	title string
	req   api.QueryRequest
}

// demoQueries returns the demo's queries: the readings of one mote over
// its first hour, the statistics of every mote, the daily statistics of
// the hot readings, and a mote's hourly means over a day.
func demoQueries(first time.Time) []demoQuery {
	hour := first.Truncate(time.Hour)
	day := first.Truncate(24 * time.Hour)
	hourEnd, dayEnd := hour.Add(time.Hour), day.Add(24*time.Hour)
	all := []string{"count", "min", "max", "mean"}
	return []demoQuery{
		{
			title: fmt.Sprintf("Mote 10, first 5 readings from %s to %s", hour.Format("2006-01-02 15:04"), hourEnd.Format("15:04")),
			req:   api.QueryRequest{Sensor: "10", From: &hour, To: &hourEnd, Limit: 5},
		},
		{
			title: "Temperature and humidity of every mote over the whole dataset",
			req:   api.QueryRequest{Aggregates: all, By: "sensor"},
		},
		{
			title: "Readings at 23 °C or more, per day",
			req: api.QueryRequest{
				Where:      []api.Condition{{Field: "temperature", Op: ">=", Value: json.RawMessage("23")}},
				Aggregates: all, By: "day",
			},
		},
		{
			title: fmt.Sprintf("Mote 10, hourly means on %s", day.Format("2006-01-02")),
			req:   api.QueryRequest{Sensor: "10", From: &day, To: &dayEnd, Aggregates: all, By: "hour"},
		},
	}
}

// firstReading returns the time of the dataset's first reading of mote
// 10, which anchors the demo's time ranges.
func (d *demo) firstReading(ctx context.Context) (time.Time, error) {
	client := api.NewClient(d.alive[0].APIAddr())
	res, err := client.Query(ctx, "", demoNamespace, api.QueryRequest{Sensor: "10", Limit: 1})
	if err != nil {
		return time.Time{}, fmt.Errorf("query the first reading: %w", err)
	}
	if len(res.Readings) == 0 {
		return time.Time{}, errors.New("query the first reading: mote 10 has no readings; was the dataset imported?")
	}
	r, err := sensor.DecodeJSON(res.Readings[0], sensor.JSONOptions{})
	if err != nil {
		return time.Time{}, err
	}
	return r.Time, nil
}

// queryRound runs every query through the node at index via and returns
// the results, printing them when show is set.
func (d *demo) queryRound(ctx context.Context, via int, queries []demoQuery, show bool) ([]*api.QueryResult, time.Duration, error) {
	client := api.NewClient(d.alive[via].APIAddr())
	var answers []*api.QueryResult
	var total time.Duration
	for _, q := range queries {
		start := time.Now()
		res, err := client.Query(ctx, "", demoNamespace, q.req)
		if err != nil {
			return nil, 0, fmt.Errorf("query %q: %w", q.title, err)
		}
		total += time.Since(start)
		answers = append(answers, res)
		if show {
			fmt.Fprintf(d.out, "%s (%s)\n", q.title, millis(time.Since(start)))
			d.printResult(res)
		}
	}
	return answers, total, nil
}

// printResult prints readings or aggregate groups as a table.
func (d *demo) printResult(res *api.QueryResult) {
	tw := tabwriter.NewWriter(d.out, 0, 0, 2, ' ', tabwriter.AlignRight)
	defer func() {
		tw.Flush()
		fmt.Fprintln(d.out)
	}()
	if len(res.Groups) == 0 {
		fmt.Fprintln(tw, "TIME\tMOTE\tTEMPERATURE\tHUMIDITY\t")
		for _, raw := range res.Readings {
			r, err := sensor.DecodeJSON(raw, sensor.JSONOptions{})
			if err != nil {
				fmt.Fprintf(tw, "%v\t\t\t\t\n", err)
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", r.Time.Format("15:04:05.000"), r.Source, fieldText(r, "temperature"), fieldText(r, "humidity"))
		}
		if res.Truncated {
			fmt.Fprintln(tw, "…\t…\t…\t…\t")
		}
		return
	}
	fmt.Fprintln(tw, "GROUP\tREADINGS\tTEMP MIN\tTEMP MEAN\tTEMP MAX\tHUMIDITY MEAN\t")
	for _, g := range byMote(res.Groups) {
		t, h := g.Fields["temperature"], g.Fields["humidity"]
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t\n", demoGroupName(g), g.Count, number(t.Min), number(t.Mean), number(t.Max), number(h.Mean))
	}
}

// byMote returns groups with numeric sensor ids in numeric order, where
// the query returns them in text order (1, 10, 11, ..., 2).
func byMote(groups []api.AggregateGroup) []api.AggregateGroup {
	sorted := slices.Clone(groups)
	slices.SortStableFunc(sorted, func(a, b api.AggregateGroup) int {
		x, errX := strconv.Atoi(a.Sensor)
		y, errY := strconv.Atoi(b.Sensor)
		if errX != nil || errY != nil {
			return 0
		}
		return cmp.Compare(x, y)
	})
	return sorted
}

// millis formats d in milliseconds with one decimal, so every time the
// demo prints reads alike.
func millis(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

func demoGroupName(g api.AggregateGroup) string {
	switch {
	case g.Sensor != "":
		return "mote " + g.Sensor
	case g.Start != nil && g.Start.Hour() == 0 && g.Start.Minute() == 0:
		return g.Start.Format("2006-01-02")
	case g.Start != nil:
		return g.Start.Format("15:04")
	}
	return "all"
}

func fieldText(r sensor.Reading, name string) string {
	v, ok := r.Get(name)
	if !ok {
		return "-"
	}
	return v.String()
}

func number(f *float64) string {
	if f == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f", *f)
}

// sameAnswers reports which queries returned different results in two rounds,
// comparing their JSON encodings.
func sameAnswers(queries []demoQuery, before, after []*api.QueryResult) error {
	var differ []string
	for i := range queries {
		a, _ := json.Marshal(before[i])
		b, _ := json.Marshal(after[i])
		if string(a) != string(b) {
			differ = append(differ, fmt.Sprintf("%q", queries[i].title))
		}
	}
	if len(differ) > 0 {
		return fmt.Errorf("%d queries returned different results after nodes failed: %s", len(differ), strings.Join(differ, ", "))
	}
	return nil
}
