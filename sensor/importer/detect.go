package importer

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// errNoLines reports a sample with no line that detection can use.
var errNoLines = errors.New("no usable lines")

// headerOnlyError reports a sample that has a header and no data rows.
type headerOnlyError struct{ line int }

func (e *headerOnlyError) Error() string {
	return fmt.Sprintf("line %d is a header and no data rows follow", e.line)
}

// detection works out a Layout from the sample.
type detection struct {
	opts     Options
	file     string
	wantTime bool // false for location tables, which have no time column
	layout   Layout
	header   [][]byte   // header cells, nil without a header
	rows     [][][]byte // data rows of the sample, split and joined
	stats    []columnStats
	width    int
	grouped  []bool
	missing  *missingSet
	roles    []Role
	names    []string
	kinds    []timeKind
}

// detectLayout reads the sample and returns the layout, or an error that
// names the guess that failed and the option that settles it.
func detectLayout(sample []sampleLine, opts Options, file string, wantTime bool) (*Layout, error) {
	d := &detection{opts: opts, file: file, wantTime: wantTime}
	lines, numbers := usableLines(sample, opts.Comment)
	if len(lines) == 0 {
		return nil, errNoLines
	}
	if err := d.splitLines(lines, numbers); err != nil {
		return nil, err
	}
	if len(d.rows) == 0 {
		return nil, &headerOnlyError{line: d.layout.HeaderLine}
	}
	d.shapeColumns()
	if err := d.assignRoles(); err != nil {
		return nil, err
	}
	d.finish()
	return &d.layout, nil
}

// usableLines returns the sample lines that are not blank, comments,
// over-long or binary, with their line numbers.
func usableLines(sample []sampleLine, comment byte) ([][]byte, []int) {
	var lines [][]byte
	var numbers []int
	for _, l := range sample {
		if l.err != nil || isBlank(l.text) || isComment(l.text, comment) || hasControl(l.text) >= 0 {
			continue
		}
		lines = append(lines, l.text)
		numbers = append(numbers, l.number)
	}
	return lines, numbers
}

// splitLines settles the delimiter and the header and splits the sample.
func (d *detection) splitLines(lines [][]byte, numbers []int) error {
	l := &d.layout
	l.Delimiter = d.opts.Delimiter
	if l.Delimiter == Auto {
		delim, err := detectDelimiter(lines, d.opts.maxColumns())
		if err != nil {
			return err
		}
		l.Delimiter = delim
	}

	s := splitter{delim: l.Delimiter, maxColumns: d.opts.maxColumns()}
	var rows [][][]byte
	var rowLines []int
	for i, line := range lines {
		cells, err := s.split(line)
		if err != nil || allEmpty(cells) {
			continue
		}
		rows = append(rows, cloneCells(cells))
		rowLines = append(rowLines, numbers[i])
	}
	if len(rows) == 0 {
		return errNoLines
	}

	guess, _ := detectDecimal(rows[1:], l.Delimiter)
	if d.opts.Decimal != 0 {
		guess = d.opts.Decimal
	}
	switch d.opts.Header {
	case HeaderPresent:
		d.header = rows[0]
	case HeaderAuto:
		if looksLikeHeader(rows[0], rows[1:], guess) {
			d.header = rows[0]
		}
	}
	if d.header != nil {
		l.HeaderLine = rowLines[0]
		rows = rows[1:]
	}
	d.rows = rows
	return nil
}

func allEmpty(cells [][]byte) bool {
	for _, c := range cells {
		if len(c) > 0 {
			return false
		}
	}
	return true
}

// cloneCells copies cells, which alias a reused buffer, into one new
// allocation.
func cloneCells(cells [][]byte) [][]byte {
	size := 0
	for _, c := range cells {
		size += len(c)
	}
	buf := make([]byte, 0, size)
	out := make([][]byte, len(cells))
	for i, c := range cells {
		buf = append(buf, c...)
		out[i] = buf[len(buf)-len(c) : len(buf) : len(buf)]
	}
	return out
}

// shapeColumns settles the number of columns, the decimal separator, the
// missing values and the statistics of each column.
func (d *detection) shapeColumns() {
	l := &d.layout
	switch {
	case l.Delimiter == Whitespace && len(d.rows) > 0:
		d.width, d.grouped = groupedColumns(d.rows)
		d.rows = d.joinGroups(d.rows)
	case len(d.rows) > 0:
		d.width, _ = modalWidth(d.rows)
	default:
		d.width = len(d.header)
	}
	if len(d.grouped) < d.width {
		d.grouped = append(d.grouped, make([]bool, d.width-len(d.grouped))...)
	}

	decimal, note := detectDecimal(d.rows, l.Delimiter)
	if d.opts.Decimal != 0 {
		decimal, note = d.opts.Decimal, ""
	}
	l.Decimal = decimal
	d.note(note)

	d.missing = newMissingSet(d.opts.missing())
	d.stats = collectStats(d.rows, d.width, decimal, d.missing)
	var order string
	l.DateOrder, order = detectDateOrder(d.stats, d.opts.DateOrder, len(d.rows))
	d.note(order)
}

func modalWidth(rows [][][]byte) (int, int) {
	counts := map[int]int{}
	mode := 0
	for _, r := range rows {
		counts[len(r)]++
		if counts[len(r)] > counts[mode] || (counts[len(r)] == counts[mode] && len(r) > mode) {
			mode = len(r)
		}
	}
	return mode, counts[mode]
}

// joinGroups rejoins numbers split at a digit group space in the sample
// rows, dropping the rows that do not come out at the detected width.
func (d *detection) joinGroups(rows [][][]byte) [][][]byte {
	out := rows[:0]
	for _, r := range rows {
		if joined, ok := mergeGroups(r, d.width, 0, d.grouped, nil); ok {
			out = append(out, joined)
		}
	}
	for j, g := range d.grouped {
		if g {
			d.note(fmt.Sprintf("column %d has numbers written with a space between digit groups, such as 1 000, and they are joined", j))
		}
	}
	return out
}

func (d *detection) note(s string) {
	if s != "" {
		d.layout.Notes = append(d.layout.Notes, s)
	}
}

// finish builds the layout's columns from the settled roles.
func (d *detection) finish() {
	l := &d.layout
	numeric := make([]bool, d.width)
	for j := range d.width {
		c := Column{Index: j, Header: d.headerCell(j), Role: d.roles[j], time: d.kinds[j]}
		c.grouped = d.grouped[j]
		c.integers = d.stats[j].values() > 0 && d.stats[j].integers == d.stats[j].values()
		switch c.Role {
		case RoleField:
			c.Name = d.names[j]
			c.field = d.stats[j].fieldKind()
			c.Kind = c.field.String()
			numeric[j] = c.field != fieldText
		case RoleTime, RoleDate:
			c.Kind = c.time.String()
		}
		l.Columns = append(l.Columns, c)
	}

	l.Sentinels = append(l.Sentinels, d.missing.numbers...)
	if !d.opts.KeepSentinels {
		found := detectSentinels(d.stats, numeric)
		for _, s := range found {
			d.note(fmt.Sprintf("%v is read as a missing value: it appears in numeric columns far below their other values; keep it as a number with yui import --keep-sentinels", s))
		}
		l.Sentinels = append(l.Sentinels, found...)
	}
}

func (d *detection) headerCell(j int) string {
	if j < len(d.header) {
		return textValue(d.header[j])
	}
	return ""
}

// fileSource returns the source id for a file without a source column:
// its base name without extension, made valid as an id.
func fileSource(file string) string {
	base := filepath.Base(file)
	if ext := filepath.Ext(base); ext != "" && ext != base {
		base = strings.TrimSuffix(base, ext)
	}
	if s := cleanName(base, 128); s != "" {
		return s
	}
	return "import"
}
