package cli

import (
	"cmp"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/search"
	"github.com/yuinet/yui/sensor"
	"github.com/yuinet/yui/storage/seal"
)

// queryTimeout bounds one query, which may read many segments.
const queryTimeout = 5 * time.Minute

// queryFlags are the flags of 'yui query'.
type queryFlags struct {
	sf       storeFlags
	sensor   string
	from, to string
	where    []string
	near     string
	nearXY   string
	limit    int
	agg      string
	by       string
	asJSON   bool
	asCSV    bool
}

func newQueryCommand(g *globalFlags) *cobra.Command {
	var f queryFlags
	cmd := &cobra.Command{
		Use:   "query NAMESPACE",
		Short: "Search the sensor readings of a namespace",
		Long: `Search the sensor readings stored in a namespace. The node computes
blind-index tokens with your keys, so the nodes that hold the index and
the data never see the values searched for.

Every condition given must hold. Times are RFC 3339 (2006-11-13T17:00:00Z),
dates (2006-11-13, midnight UTC) or epoch milliseconds (1163437200000);
--from is inclusive and --to is not.
--where takes FIELD=VALUE, FIELD!=VALUE or a numeric comparison such as
temperature>21.5; a VALUE in double quotes is text, one that reads as a
number is a number. With --agg the command prints aggregates of the
matching readings instead of the readings, grouped with --by.`,
		Example: `  yui query lab --sensor 12 --from 2006-11-13 --to 2006-11-14
  yui query lab --where 'status="open"' --near 50.85,4.35,2000
  yui query lab --near-xy 20,20,5 --agg count,mean --by sensor --csv`,
		Args: func(cmd *cobra.Command, args []string) error {
			return rangeArgs("query", "NAMESPACE", 1, 1, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runQuery(cmd, g, &f, args[0])
		},
	}
	f.sf.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.sensor, "sensor", "", "keep readings of this source id")
	fl.StringVar(&f.from, "from", "", "keep readings at or after this time (RFC 3339, date or epoch milliseconds)")
	fl.StringVar(&f.to, "to", "", "keep readings before this time (RFC 3339, date or epoch milliseconds)")
	fl.StringArrayVar(&f.where, "where", nil, "keep readings whose field matches, such as status=open or temp>=20 (repeatable)")
	fl.StringVar(&f.near, "near", "", "keep readings within RADIUS metres of a point: LAT,LON,RADIUS")
	fl.StringVar(&f.nearXY, "near-xy", "", "keep readings within RADIUS metres of a point on the site's plan: X,Y,RADIUS")
	fl.IntVar(&f.limit, "limit", 0, fmt.Sprintf("print at most this many readings, the earliest (0 means %d)", api.MaxQueryReadings))
	fl.StringVar(&f.agg, "agg", "", "print aggregates instead of readings: a list of count, min, max and mean")
	fl.StringVar(&f.by, "by", "", "group aggregates by sensor, hour or day, or by sensor and hour or day, such as sensor,hour (default: one group)")
	fl.BoolVar(&f.asJSON, "json", false, "print the node's JSON result")
	fl.BoolVar(&f.asCSV, "csv", false, "print comma-separated values with a header line")
	return cmd
}

func runQuery(cmd *cobra.Command, g *globalFlags, f *queryFlags, namespace string) error {
	if err := seal.ValidateNamespace(namespace); err != nil {
		return err
	}
	if f.asJSON && f.asCSV {
		return fmt.Errorf("--json and --csv exclude each other; pick one")
	}
	req, err := f.request()
	if err != nil {
		return err
	}
	client, err := api.FindNode(g.dataDir)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(contextOrBackground(cmd.Context()), queryTimeout)
	defer cancel()
	res, err := client.Query(ctx, f.sf.user, namespace, req)
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	switch {
	case f.asJSON:
		return printJSON(w, res)
	case len(req.Aggregates) > 0:
		return printGroups(w, res.Groups, req.Aggregates, f.asCSV)
	}
	return printReadings(w, res, f.asCSV)
}

// request builds the API request the flags describe.
func (f *queryFlags) request() (api.QueryRequest, error) {
	req := api.QueryRequest{Sensor: f.sensor, Limit: f.limit, By: f.by}
	var err error
	if req.From, err = parseQueryTime("--from", f.from); err != nil {
		return req, err
	}
	if req.To, err = parseQueryTime("--to", f.to); err != nil {
		return req, err
	}

	for _, w := range f.where {
		c, err := parseCondition(w)
		if err != nil {
			return req, err
		}
		req.Where = append(req.Where, c)
	}

	if f.near != "" && f.nearXY != "" {
		return req, fmt.Errorf("--near and --near-xy exclude each other; pick one")
	}
	if f.near != "" {
		if req.Near, err = parseNear("--near", f.near, false); err != nil {
			return req, err
		}
	}
	if f.nearXY != "" {
		if req.Near, err = parseNear("--near-xy", f.nearXY, true); err != nil {
			return req, err
		}
	}

	if f.limit < 0 {
		return req, fmt.Errorf("invalid --limit %d: want 0 or more", f.limit)
	}

	if f.agg != "" {
		for _, a := range strings.Split(f.agg, ",") {
			a = strings.TrimSpace(a)
			if !slices.Contains([]string{"count", "min", "max", "mean"}, a) {
				return req, fmt.Errorf("invalid --agg %q: %q is not one of count, min, max and mean", f.agg, a)
			}
			req.Aggregates = append(req.Aggregates, a)
		}
	}
	if f.by != "" && f.agg == "" {
		return req, fmt.Errorf("--by groups aggregates; name them with --agg, such as --agg count,mean")
	}
	if _, err := search.ParseGroupBy(f.by); err != nil {
		return req, fmt.Errorf("invalid --by: %w", err)
	}
	return req, nil
}

// queryTimeLayouts are the time forms the query flags accept, tried in
// order. Forms without an offset are in UTC.
var queryTimeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02"}

func parseQueryTime(flag, s string) (*time.Time, error) {
	if s == "" {
		return nil, nil
	}
	for _, layout := range queryTimeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			t = t.UTC()
			return &t, nil
		}
	}
	// Epoch milliseconds, as readings may carry them.
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil && ms >= sensor.MinTime.UnixMilli() && ms < sensor.MaxTime.UnixMilli() {
		t := time.UnixMilli(ms).UTC()
		return &t, nil
	}
	return nil, fmt.Errorf("invalid %s %q: want RFC 3339 such as 2006-11-13T17:00:00Z, a date such as 2006-11-13, or epoch milliseconds such as 1163437200000", flag, s)
}

// conditionOps are the operators of --where, two-character ones first
// so that "<=" is not read as "<".
var conditionOps = []string{"!=", "<=", ">=", "=", "<", ">"}

// parseCondition reads FIELD OP VALUE. The operator is the first place
// where one starts, since field names rarely hold =, !, < or >.
func parseCondition(s string) (api.Condition, error) {
	at := strings.IndexAny(s, "=!<>")
	if at <= 0 {
		return api.Condition{}, fmt.Errorf("invalid --where %q: want FIELD=VALUE, or !=, <, <=, > or >= in place of =", s)
	}
	for _, op := range conditionOps {
		if !strings.HasPrefix(s[at:], op) {
			continue
		}
		field, text := strings.TrimSpace(s[:at]), strings.TrimSpace(s[at+len(op):])
		// An unquoted value that starts with an operator is a mistyped
		// operator, such as temp=>20, which would match the text ">20".
		if strings.IndexAny(text, "=!<>") == 0 {
			return api.Condition{}, fmt.Errorf("invalid --where %q: the value %q starts with an operator; write one of !=, <, <=, > or >= (such as %s>=20), or quote a text value (%s=\"%s\")", s, text, field, field, text)
		}
		value, err := conditionValue(text)
		if err != nil {
			return api.Condition{}, fmt.Errorf("invalid --where %q: %v", s, err)
		}
		return api.Condition{Field: field, Op: op, Value: value}, nil
	}
	return api.Condition{}, fmt.Errorf("invalid --where %q: want FIELD=VALUE, or !=, <, <=, > or >= in place of =", s)
}

// conditionValue returns the JSON of a value: text in double quotes
// stays text, one that reads as a finite number is a number, anything
// else is text.
func conditionValue(text string) (json.RawMessage, error) {
	if len(text) >= 2 && strings.HasPrefix(text, `"`) && strings.HasSuffix(text, `"`) {
		return json.Marshal(text[1 : len(text)-1])
	}
	if f, err := strconv.ParseFloat(text, 64); err == nil {
		return json.Marshal(f)
	}
	return json.Marshal(text)
}

func parseNear(flag, s string, plane bool) (*api.Near, error) {
	parts := strings.Split(s, ",")
	form := "LAT,LON,RADIUS such as 50.85,4.35,2000"
	if plane {
		form = "X,Y,RADIUS such as 20,15,5"
	}
	if len(parts) != 3 {
		return nil, fmt.Errorf("invalid %s %q: want %s", flag, s, form)
	}
	var v [3]float64
	for i, p := range parts {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil {
			return nil, fmt.Errorf("invalid %s %q: %q is not a number; want %s", flag, s, p, form)
		}
		v[i] = f
	}
	if plane {
		return &api.Near{X: &v[0], Y: &v[1], Radius: v[2]}, nil
	}
	return &api.Near{Lat: &v[0], Lon: &v[1], Radius: v[2]}, nil
}

// printReadings prints one reading per line: time, sensor, location and
// fields as a table, or as CSV with one column per field name.
func printReadings(w io.Writer, res *api.QueryResult, asCSV bool) error {
	readings := make([]sensor.Reading, 0, len(res.Readings))
	for _, raw := range res.Readings {
		r, err := sensor.DecodeJSON(raw, sensor.JSONOptions{})
		if err != nil {
			return fmt.Errorf("node returned a reading that does not decode: %w", err)
		}
		readings = append(readings, r)
	}
	if asCSV {
		return writeReadingsCSV(w, readings)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tSENSOR\tLOCATION\tFIELDS")
	for i := range readings {
		r := &readings[i]
		var fields []string
		for _, fl := range r.Fields {
			fields = append(fields, fl.Name+"="+fl.Value.String())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Time.Format(time.RFC3339Nano), r.Source, formatLocation(r.Location), strings.Join(fields, " "))
	}
	tw.Flush()
	note := ""
	if res.Truncated {
		note = " (more matched; narrow the query or raise --limit)"
	}
	fmt.Fprintf(w, "%s%s\n", counted(len(readings), "reading"), note)
	return nil
}

func formatLocation(l *sensor.Location) string {
	switch {
	case l == nil:
		return "-"
	case l.Kind == sensor.Plane:
		return fmt.Sprintf("x=%g,y=%g", l.X, l.Y)
	}
	return fmt.Sprintf("%g,%g", l.Lat, l.Lon)
}

func writeReadingsCSV(w io.Writer, readings []sensor.Reading) error {
	var names []string
	for i := range readings {
		for _, f := range readings[i].Fields {
			if !slices.Contains(names, f.Name) {
				names = append(names, f.Name)
			}
		}
	}
	cw := csv.NewWriter(w)
	cw.Write(append([]string{"time", "sensor", "lat", "lon", "x", "y"}, names...))
	for i := range readings {
		r := &readings[i]
		row := []string{r.Time.Format(time.RFC3339Nano), r.Source, "", "", "", ""}
		if l := r.Location; l != nil && l.Kind == sensor.Geo {
			row[2], row[3] = formatFloat(l.Lat), formatFloat(l.Lon)
		} else if l != nil {
			row[4], row[5] = formatFloat(l.X), formatFloat(l.Y)
		}
		for _, name := range names {
			v, ok := r.Get(name)
			row = append(row, csvValue(v, ok))
		}
		cw.Write(row)
	}
	cw.Flush()
	return cw.Error()
}

func csvValue(v sensor.Value, ok bool) string {
	if n, isNumber := v.Number(); ok && isNumber {
		return formatFloat(n)
	}
	if s, isText := v.Text(); ok && isText {
		return s
	}
	return ""
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// formatStat formats an aggregate to 12 significant digits, which hides
// the rounding of a mean (51.815000000000005) and keeps every digit a
// sensor reports; --json gives the exact value.
func formatStat(f float64) string { return strconv.FormatFloat(f, 'g', 12, 64) }

// counted returns "1 reading" or "n readings".
func counted(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// printGroups prints one line per group and numeric field with the
// requested aggregates.
func printGroups(w io.Writer, groups []api.AggregateGroup, aggs []string, asCSV bool) error {
	groups = sortedBySensor(groups)
	header := []string{"group", "readings", "field"}
	header = append(header, aggs...)
	var rows [][]string
	for _, g := range groups {
		names := make([]string, 0, len(g.Fields))
		for name := range g.Fields {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			rows = append(rows, groupRow(g, name, aggs))
		}
		if len(names) == 0 {
			rows = append(rows, []string{groupName(g), strconv.Itoa(g.Count), "-"})
		}
	}
	if asCSV {
		cw := csv.NewWriter(w)
		cw.Write(header)
		cw.WriteAll(rows)
		return cw.Error()
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.ToUpper(strings.Join(header, "\t")))
	for _, row := range rows {
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	tw.Flush()
	fmt.Fprintln(w, counted(len(groups), "group"))
	return nil
}

// sortedBySensor returns groups in the order of their sensors, numeric
// ids by value, so that sensor 2 comes before sensor 10, and groups of one
// sensor in their order. Groups by cell keep the node's order.
func sortedBySensor(groups []api.AggregateGroup) []api.AggregateGroup {
	for _, g := range groups {
		if g.Cell != nil {
			return groups
		}
	}
	sorted := slices.Clone(groups)
	slices.SortStableFunc(sorted, func(a, b api.AggregateGroup) int {
		return compareSensors(a.Sensor, b.Sensor)
	})
	return sorted
}

// compareSensors orders two source ids: integers by value and before
// other ids, which compare as text.
func compareSensors(a, b string) int {
	x, errA := strconv.ParseInt(a, 10, 64)
	y, errB := strconv.ParseInt(b, 10, 64)
	switch {
	case errA == nil && errB == nil:
		return cmp.Compare(x, y)
	case errA == nil:
		return -1
	case errB == nil:
		return 1
	}
	return strings.Compare(a, b)
}

func groupName(g api.AggregateGroup) string {
	if g.Cell != nil {
		if g.Sensor == "" && g.Start == nil {
			return cellName(g.Cell)
		}
		return cellName(g.Cell) + "/" + groupName(api.AggregateGroup{Sensor: g.Sensor, Start: g.Start})
	}
	switch {
	case g.Sensor != "" && g.Start != nil:
		return g.Sensor + "@" + g.Start.Format(time.RFC3339)
	case g.Sensor != "":
		return g.Sensor
	case g.Start != nil:
		return g.Start.Format(time.RFC3339)
	}
	return "all"
}

func groupRow(g api.AggregateGroup, name string, aggs []string) []string {
	fs := g.Fields[name]
	row := []string{groupName(g), strconv.Itoa(g.Count), name}
	for _, a := range aggs {
		var v *float64
		switch a {
		case "count":
			row = append(row, strconv.Itoa(fs.Count))
			continue
		case "min":
			v = fs.Min
		case "max":
			v = fs.Max
		case "mean":
			v = fs.Mean
		case "sum":
			v = fs.Sum
		case "histogram":
			row = append(row, histogramText(fs.Histogram))
			continue
		default:
			if p, ok := fs.Percentiles[a]; ok {
				v = &p
			}
		}
		if v == nil {
			row = append(row, "-")
		} else {
			row = append(row, formatStat(*v))
		}
	}
	return row
}
