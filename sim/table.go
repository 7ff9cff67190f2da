package sim

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Table is one table of results. Cells are formatted strings, so that a
// table written twice from the same run is byte-identical.
type Table struct {
	// Name is the file name stem, such as "build" for build.csv.
	Name string `json:"name"`
	// Title heads the text rendering.
	Title   string     `json:"title"`
	Columns []string   `json:"columns"`
	Rows    [][]string `json:"rows"`
}

// NewTable returns an empty table.
func NewTable(name, title string, columns ...string) *Table {
	return &Table{Name: name, Title: title, Columns: columns}
}

// Add appends a row; it must have one cell per column.
func (t *Table) Add(cells ...string) {
	if len(cells) != len(t.Columns) {
		panic(fmt.Sprintf("sim: table %s row has %d cells for %d columns", t.Name, len(cells), len(t.Columns)))
	}
	t.Rows = append(t.Rows, cells)
}

// Format selects how tables are written to files.
type Format string

// Table formats.
const (
	CSV  Format = "csv"
	JSON Format = "json"
)

// ParseFormat parses "csv" or "json".
func ParseFormat(s string) (Format, error) {
	switch Format(s) {
	case CSV, JSON:
		return Format(s), nil
	}
	return "", fmt.Errorf("%w: format %q: want csv or json", ErrConfig, s)
}

// Write writes the table in format f.
func (t *Table) Write(w io.Writer, f Format) error {
	if f == JSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(t)
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(t.Columns); err != nil {
		return err
	}
	if err := cw.WriteAll(t.Rows); err != nil {
		return err
	}
	return cw.Error()
}

// WriteFile writes the table in format f to a new file at path.
func (t *Table) WriteFile(path string, f Format) error {
	file, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := t.Write(file, f); err != nil {
		file.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return file.Close()
}

// WriteText writes the table aligned in columns for a terminal.
func (t *Table) WriteText(w io.Writer) error {
	if t.Title != "" {
		if _, err := fmt.Fprintf(w, "%s\n", t.Title); err != nil {
			return err
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%s\t\n", strings.Join(t.Columns, "\t"))
	for _, row := range t.Rows {
		fmt.Fprintf(tw, "%s\t\n", strings.Join(row, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w)
	return err
}

// Cell formatting. Every number in a table goes through one of these, so
// the text never depends on the platform's default formatting.

func fmtInt[T ~int | ~int32 | ~int64 | ~uint64](v T) string { return strconv.FormatInt(int64(v), 10) }

func fmtFloat(v float64, digits int) string { return strconv.FormatFloat(v, 'f', digits, 64) }

// fmtMillis formats a duration in milliseconds with one decimal.
func fmtMillis(d time.Duration) string { return fmtFloat(float64(d)/float64(time.Millisecond), 1) }

// fmtSeconds formats a duration in seconds with three decimals.
func fmtSeconds(d time.Duration) string { return fmtFloat(d.Seconds(), 3) }

func fmtPercent(v float64) string { return fmtFloat(100*v, 2) }

func fmtBool(v bool) string { return strconv.FormatBool(v) }
