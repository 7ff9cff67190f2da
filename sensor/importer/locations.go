package importer

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/yuinet/yui/sensor"
)

// LoadLocations reads a location table: one row per source with its
// coordinates, as lat and lon or as x and y, such as the Intel Berkeley
// lab's mote_locs.txt ("moteid x_location y_location"). Detection works as
// for readings but needs no time column. The source and coordinate columns
// are found by their headers or mapped, and other columns are ignored. A
// file without a header and with three numeric columns is read as source,
// x, y. A row without coordinates, or naming a source a second time, is
// rejected.
func LoadLocations(r io.Reader, file string, opts Options) (Locations, Summary, error) {
	rd, err := newReader(r, file, opts, true)
	if err != nil {
		return nil, Summary{File: file}, err
	}
	if rd.row.sourceCol < 0 || (rd.row.xCol < 0 && rd.row.latCol < 0) {
		return nil, rd.Summary(), fmt.Errorf("%w: %s: a location table needs a source column and x, y or lat, lon columns, found %s: map them, as in source=0,x=1,y=2",
			ErrLayout, file, columnList(rd.layout))
	}
	locs := Locations{}
	lines := map[string]int{}
	for {
		reading, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return locs, rd.Summary(), nil
		}
		if err != nil {
			return locs, rd.Summary(), err
		}
		if err := rd.addLocation(locs, lines, reading.Source, reading.Location, rd.Line()); err != nil {
			return locs, rd.Summary(), err
		}
	}
}

// addLocation stores one source's location, or rejects the row that gave
// it. It returns an error only when Strict stops the import.
func (rd *Reader) addLocation(locs Locations, lines map[string]int, source string, l *sensor.Location, line int) error {
	var e *RowError
	switch first, dup := lines[source]; {
	case l == nil:
		e = &RowError{Line: line, Reason: ReasonLocation, Column: -1, Detail: fmt.Sprintf("source %q has no coordinates", source)}
	case dup:
		e = &RowError{Line: line, Reason: ReasonDuplicate, Column: rd.row.sourceCol, Detail: fmt.Sprintf("source %q already has a location, on line %d", source, first)}
	}
	if e == nil {
		locs[source] = *l
		lines[source] = line
		return nil
	}
	// The row was counted as a reading; count it as rejected instead.
	rd.summary.Readings--
	rd.summary.Rows--
	rd.reject(e)
	if rd.opts.Strict {
		return e
	}
	return nil
}

func columnList(l *Layout) string {
	s := ""
	for _, c := range l.Columns {
		s += " " + c.String()
	}
	return s
}

// LoadLocationsFile reads the location table at path; see LoadLocations.
func LoadLocationsFile(path string, opts Options) (Locations, Summary, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, Summary{File: path}, fmt.Errorf("importer: %w", err)
	}
	defer f.Close()
	return LoadLocations(f, path, opts)
}
