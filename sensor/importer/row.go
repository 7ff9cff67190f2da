package importer

import (
	"errors"
	"fmt"
	"time"

	"github.com/yuinet/yui/sensor"
)

// errBlank marks a line whose cells are all empty, such as ";;;;" at the
// end of the UCI air quality file as published.
var errBlank = errors.New("blank row")

// maxInterned bounds the source ids a rowParser keeps to share one string
// among the readings of a source.
const maxInterned = 4096

// rowParser turns the cells of one line into a reading under a layout.
type rowParser struct {
	file     string
	layout   *Layout
	location bool
	zone     *time.Location
	split    splitter
	numbers  numberParser
	missing  *missingSet
	sentinel *missingSet
	fixed    Locations

	// Settled from the layout: the columns that must be present, and the
	// columns of each role (-1 for none).
	required                                int
	timeCol, dateCol, sourceCol             int
	latCol, lonCol, xCol, yCol, fieldsCount int
	grouped, integers                       []bool

	sources      map[string]string
	missingInRow int
}

func newRowParser(file string, l *Layout, opts Options, location bool) rowParser {
	p := rowParser{
		file:     file,
		layout:   l,
		location: location,
		zone:     opts.zone(),
		split:    splitter{delim: l.Delimiter, maxColumns: opts.maxColumns()},
		numbers:  numberParser{decimal: l.Decimal},
		missing:  newMissingSet(opts.missing()),
		sentinel: &missingSet{numbers: l.Sentinels},
		fixed:    opts.Locations,
		timeCol:  -1, dateCol: -1, sourceCol: -1, latCol: -1, lonCol: -1, xCol: -1, yCol: -1,
		sources: map[string]string{},
	}
	for _, c := range l.Columns {
		if c.Role != RoleIgnore {
			p.required = c.Index + 1
		}
		p.grouped = append(p.grouped, c.grouped)
		p.integers = append(p.integers, c.integers)
		switch c.Role {
		case RoleTime:
			p.timeCol = c.Index
		case RoleDate:
			p.dateCol = c.Index
		case RoleSource:
			p.sourceCol = c.Index
		case RoleLat:
			p.latCol = c.Index
		case RoleLon:
			p.lonCol = c.Index
		case RoleX:
			p.xCol = c.Index
		case RoleY:
			p.yCol = c.Index
		case RoleField:
			p.fieldsCount++
		}
	}
	return p
}

// rowError builds a rejection. The reader adds the file and line.
func rowError(reason Reason, column int, format string, args ...any) *RowError {
	return &RowError{Reason: reason, Column: column, Detail: fmt.Sprintf(format, args...)}
}

// parse turns a line into a reading. It returns errBlank for a line whose
// cells are all empty, or a *RowError.
func (p *rowParser) parse(line []byte) (sensor.Reading, error) {
	p.missingInRow = 0
	if i := hasControl(line); i >= 0 {
		return sensor.Reading{}, rowError(ReasonBinary, -1, "control byte 0x%02x at byte %d", line[i], i+1)
	}
	cells, err := p.cells(line)
	if err != nil {
		return sensor.Reading{}, err
	}

	var r sensor.Reading
	if !p.location {
		if r.Time, err = p.time(cells); err != nil {
			return sensor.Reading{}, err
		}
	}
	if r.Source, err = p.source(cells); err != nil {
		return sensor.Reading{}, err
	}
	if r.Location, err = p.readLocation(cells); err != nil {
		return sensor.Reading{}, err
	}
	if r.Location == nil && p.fixed != nil {
		r.Location = p.fixedLocation(r.Source)
	}
	if r.Fields, err = p.fields(cells); err != nil {
		return sensor.Reading{}, err
	}
	return r, nil
}

// fixedLocation returns a copy of the source's location from
// Options.Locations, or nil, so that no two readings share a Location.
func (p *rowParser) fixedLocation(source string) *sensor.Location {
	l, ok := p.fixed[source]
	if !ok {
		return nil
	}
	return &l
}

// cells splits the line and checks its width. A row may leave out trailing
// ignored columns and may have extra cells if they are empty. A row of a
// whitespace-separated file with more cells than columns has digit groups
// rejoined first.
func (p *rowParser) cells(line []byte) ([][]byte, error) {
	cells, err := p.split.split(line)
	switch {
	case errors.Is(err, errQuote):
		return nil, rowError(ReasonQuote, -1, "%v", err)
	case err != nil:
		return nil, rowError(ReasonColumns, -1, "%v, the layout has %d", err, len(p.layout.Columns))
	case allEmpty(cells):
		return nil, errBlank
	}
	width := len(p.layout.Columns)
	if p.layout.Delimiter == Whitespace && len(cells) > width {
		if joined, ok := mergeGroups(cells, width, p.layout.Decimal, p.grouped, p.integers); ok {
			cells = joined
		}
	}
	for len(cells) > width && len(cells[len(cells)-1]) == 0 {
		cells = cells[:len(cells)-1]
	}
	if len(cells) < p.required || len(cells) > width {
		want := fmt.Sprint(width)
		if p.required < width {
			want = fmt.Sprintf("%d to %d", p.required, width)
		}
		detail := fmt.Sprintf("%d cells, want %s", len(cells), want)
		if p.layout.Delimiter == Whitespace && len(cells) > width {
			detail += ", and no single way to join numbers split at a digit group space fixes it"
		}
		return nil, rowError(ReasonColumns, -1, "%s", detail)
	}
	return cells, nil
}

func cell(cells [][]byte, j int) []byte {
	if j < 0 || j >= len(cells) {
		return nil
	}
	return cells[j]
}

// time reads the reading's time from the time and date columns.
func (p *rowParser) time(cells [][]byte) (time.Time, error) {
	var (
		t   time.Time
		err error
	)
	if p.dateCol >= 0 {
		t, err = p.dateAndClock(cells)
	} else {
		t, err = p.timeCell(cell(cells, p.timeCol), p.layout.Columns[p.timeCol].time)
	}
	if err != nil {
		return time.Time{}, err
	}
	if err := sensor.ValidateTime(t); err != nil {
		return time.Time{}, rowError(ReasonTime, p.timeCol, "%v", err)
	}
	return t, nil
}

func (p *rowParser) timeCell(c []byte, k timeKind) (time.Time, error) {
	if k.epoch() {
		t, ok := epochTime(c, k)
		// Today's epoch seconds read as milliseconds fall in 1970, a
		// date that passes every other check.
		if ok && k == timeUnixMS && max(t.UnixMilli(), -t.UnixMilli()) < 100_000_000_000 {
			return time.Time{}, rowError(ReasonTime, p.timeCol, "%q as milliseconds is %s, which looks like epoch seconds: map the column as unix_s", c, t.Format(time.RFC3339))
		}
		if ok {
			return t, nil
		}
		return time.Time{}, rowError(ReasonTime, p.timeCol, "%q is not a time in %s", c, k)
	}
	d, clk, rest, ok := scanDateTime(c)
	zone, zoneOK := scanZone(rest, p.zone)
	if !ok || !zoneOK {
		return time.Time{}, rowError(ReasonTime, p.timeCol, "%q is not a date and time such as 2004-03-10 18:00:00", c)
	}
	y, m, day, ok := d.resolve(p.layout.DateOrder)
	if !ok {
		return time.Time{}, rowError(ReasonTime, p.timeCol, "%q has no such date (read %s)", c, orderName(p.layout.DateOrder, d))
	}
	return combine(y, m, day, clk, zone), nil
}

func (p *rowParser) dateAndClock(cells [][]byte) (time.Time, error) {
	dc := cell(cells, p.dateCol)
	d, n, ok := scanDate(dc)
	if !ok || n != len(dc) {
		return time.Time{}, rowError(ReasonTime, p.dateCol, "%q is not a date such as 2004-03-10 or 10/03/2004", dc)
	}
	y, m, day, ok := d.resolve(p.layout.DateOrder)
	if !ok {
		return time.Time{}, rowError(ReasonTime, p.dateCol, "%q has no such date (read %s)", dc, orderName(p.layout.DateOrder, d))
	}
	var clk clock
	if p.timeCol >= 0 {
		tc := cell(cells, p.timeCol)
		c, n, ok := scanClock(tc)
		if !ok || n != len(tc) {
			return time.Time{}, rowError(ReasonTime, p.timeCol, "%q is not a time of day such as 18:00:00 or 18.00.00", tc)
		}
		clk = c
	}
	return combine(y, m, day, clk, p.zone), nil
}

func orderName(o DateOrder, d date) string {
	switch {
	case d.yearFirst:
		return "year-month-day"
	case o == MonthFirst:
		return "month first"
	}
	return "day first"
}

// source reads the source id, or returns the layout's fixed one.
func (p *rowParser) source(cells [][]byte) (string, error) {
	if p.sourceCol < 0 {
		return p.layout.Source, nil
	}
	c := cell(cells, p.sourceCol)
	if s, ok := p.sources[string(c)]; ok {
		return s, nil
	}
	s := textValue(c)
	if err := sensor.ValidateSource(s); err != nil {
		return "", rowError(ReasonSource, p.sourceCol, "%q: %v", c, err)
	}
	if len(p.sources) < maxInterned {
		p.sources[string(c)] = s
	}
	return s, nil
}

// readLocation reads the location columns, or returns nil without them or
// when both cells of the pair are missing.
func (p *rowParser) readLocation(cells [][]byte) (*sensor.Location, error) {
	a, b, kind := p.latCol, p.lonCol, sensor.Geo
	if a < 0 {
		a, b, kind = p.xCol, p.yCol, sensor.Plane
	}
	if a < 0 {
		return nil, nil
	}
	ca, cb := cell(cells, a), cell(cells, b)
	if p.missing.text(ca) && p.missing.text(cb) {
		return nil, nil
	}
	va, _, okA := p.numbers.parse(ca)
	vb, _, okB := p.numbers.parse(cb)
	if !okA || !okB {
		return nil, rowError(ReasonLocation, a, "coordinates %q, %q are not both numbers", ca, cb)
	}
	l := sensor.PlanePoint(va, vb)
	if kind == sensor.Geo {
		l = sensor.GeoPoint(va, vb)
	}
	if err := l.Validate(); err != nil {
		return nil, rowError(ReasonLocation, a, "%v", err)
	}
	return l, nil
}

// fields reads every field column.
func (p *rowParser) fields(cells [][]byte) ([]sensor.Field, error) {
	if p.fieldsCount == 0 {
		return nil, nil
	}
	fields := make([]sensor.Field, 0, p.fieldsCount)
	for i := range p.layout.Columns {
		c := &p.layout.Columns[i]
		if c.Role != RoleField {
			continue
		}
		v, err := p.value(c, cell(cells, c.Index))
		if err != nil {
			return nil, err
		}
		if v.IsMissing() {
			p.missingInRow++
		}
		fields = append(fields, sensor.Field{Name: c.Name, Value: v})
	}
	return fields, nil
}

func (p *rowParser) value(c *Column, cell []byte) (sensor.Value, error) {
	if p.missing.text(cell) {
		return sensor.Missing(), nil
	}
	v, _, ok := p.numbers.parse(cell)
	switch {
	case ok && (p.sentinel.number(v) || p.missing.number(v)):
		return sensor.Missing(), nil
	case ok && c.field != fieldText:
		return sensor.Number(v), nil
	case c.field == fieldNumber:
		return sensor.Value{}, rowError(ReasonNumber, c.Index, "field %q: %q is not a finite number (decimal %q)", c.Name, cell, p.layout.Decimal)
	}
	s := textValue(cell)
	if err := sensor.ValidateText(s); err != nil {
		return sensor.Value{}, rowError(ReasonText, c.Index, "field %q: %v", c.Name, err)
	}
	return sensor.Text(s), nil
}
