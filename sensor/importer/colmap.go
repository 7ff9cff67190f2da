package importer

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/yuinet/yui/sensor"
)

// Role is the part a column plays in a reading.
type Role uint8

const (
	// RoleField makes the column a field of the reading.
	RoleField Role = iota + 1
	// RoleTime is the reading's time: a date and time in one cell, an
	// epoch number, or the time of day when a RoleDate column exists.
	RoleTime
	// RoleDate is the calendar date, combined with a RoleTime column
	// holding the time of day, or midnight when there is none.
	RoleDate
	// RoleSource is the sensor or node id.
	RoleSource
	// RoleLat and RoleLon are degrees of latitude and longitude.
	RoleLat
	RoleLon
	// RoleX and RoleY are plane coordinates in metres.
	RoleX
	RoleY
	// RoleIgnore drops the column.
	RoleIgnore
)

var roleNames = map[Role]string{
	RoleField: "field", RoleTime: "time", RoleDate: "date", RoleSource: "source",
	RoleLat: "lat", RoleLon: "lon", RoleX: "x", RoleY: "y", RoleIgnore: "ignore",
}

func (r Role) String() string {
	if s, ok := roleNames[r]; ok {
		return s
	}
	return "Role(" + strconv.Itoa(int(r)) + ")"
}

// Map assigns roles to columns and can fix the source id. Build one with
// ParseMap or by hand.
type Map struct {
	Columns []MapEntry
	// Source, when set, is the source id of every reading, and no column
	// is the source.
	Source string
}

// MapEntry assigns one role to one column.
type MapEntry struct {
	Role Role
	// Column is the 0-based column index, or -1 when Header names the
	// column instead.
	Column int
	// Header names the column by its header cell, compared ignoring case.
	Header string
	// Name is the field name for RoleField. Empty means the header cell,
	// or "colN" for column N of a file without a header.
	Name string
	// Format fixes how a RoleTime or RoleDate column is read, in place of
	// detection: one of the Format constants.
	Format string
}

// Formats accepted in MapEntry.Format.
const (
	FormatUnixSeconds = "unix_s"
	FormatUnixMillis  = "unix_ms"
	FormatUnixMicros  = "unix_us"
	FormatUnixNanos   = "unix_ns"
	// FormatISO reads dates as year-month-day and date-times such as
	// 2004-03-10 18:00:00 or 2004-03-10T18:00:00.5+01:00.
	FormatISO = "iso"
	// FormatDMY and FormatMDY read dates with the year last, day or month
	// first, and separated by '/', '.' or '-'.
	FormatDMY = "dmy"
	FormatMDY = "mdy"
)

// ParseMap parses the compact column map syntax used by `yui import --map`:
// comma-separated items of the form key=column.
//
//	time=0,source=1,temp=2        column 0 is the time, 1 the source, 2 a field "temp"
//	date=Date,time=Time           columns named by their header cells
//	time=0:unix_ms                column 0 holds epoch milliseconds
//	date=0:dmy,time=1             day-first dates in column 0, times of day in 1
//	source=@lab-3                 every reading has source id "lab-3"
//	field=5,ignore=6-8            column 5 is a field named by its header; drop 6, 7 and 8
//	lat=3,lon=4   or   x=3,y=4    location columns
//
// The key is a role (time, date, source, lat, lon, x, y, field, ignore) or
// else the name of a field. A column is a 0-based index, a range A-B of
// indexes (for field and ignore only), or a header cell compared ignoring
// case. A time or date column may end in :FORMAT, one of unix_s, unix_ms,
// unix_us, unix_ns, iso, dmy or mdy. Header names cannot contain ',', '='
// or ':', and field names cannot contain ',' or '='; use a Map built by
// hand for those.
func ParseMap(spec string) (Map, error) {
	var m Map
	for item := range strings.SplitSeq(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		key, value, ok := strings.Cut(item, "=")
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if !ok || key == "" || value == "" {
			return Map{}, fmt.Errorf("%w: %q is not key=column", ErrMap, item)
		}
		if key == "source" && strings.HasPrefix(value, "@") {
			m.Source = value[1:]
			if m.Source == "" {
				return Map{}, fmt.Errorf("%w: %q names no source id after @", ErrMap, item)
			}
			continue
		}
		entries, err := parseMapItem(key, value)
		if err != nil {
			return Map{}, fmt.Errorf("%w: %q: %v", ErrMap, item, err)
		}
		m.Columns = append(m.Columns, entries...)
	}
	return m, nil
}

func parseMapItem(key, value string) ([]MapEntry, error) {
	role, name := roleOf(key)
	if name != "" {
		if err := sensor.ValidateFieldName(name); err != nil {
			return nil, err
		}
	}
	column, format, _ := strings.Cut(value, ":")
	column = strings.TrimSpace(column)
	if column == "" {
		return nil, fmt.Errorf("no column before the format")
	}
	if format != "" && role != RoleTime && role != RoleDate {
		return nil, fmt.Errorf("only time and date columns take a :format")
	}
	if format != "" && !validFormat(role, format) {
		return nil, fmt.Errorf("unknown %s format %q: want unix_s, unix_ms, unix_us, unix_ns, iso, dmy or mdy", role, format)
	}
	if lo, hi, ok := parseRange(column); ok {
		if role != RoleField && role != RoleIgnore {
			return nil, fmt.Errorf("a range of columns fits only field and ignore")
		}
		if hi < lo || hi-lo >= DefaultMaxColumns {
			return nil, fmt.Errorf("invalid column range %d-%d", lo, hi)
		}
		var entries []MapEntry
		for c := lo; c <= hi; c++ {
			entries = append(entries, MapEntry{Role: role, Column: c})
		}
		return entries, nil
	}
	e := MapEntry{Role: role, Column: -1, Name: name, Format: format}
	if n, err := strconv.Atoi(column); err == nil {
		if n < 0 {
			return nil, fmt.Errorf("column %d is negative: columns count from 0", n)
		}
		e.Column = n
	} else {
		e.Header = column
	}
	return []MapEntry{e}, nil
}

// roleOf returns the role a map key names, or RoleField and the key as the
// field's name.
func roleOf(key string) (Role, string) {
	for r, s := range roleNames {
		if strings.EqualFold(key, s) {
			return r, ""
		}
	}
	return RoleField, key
}

func validFormat(role Role, format string) bool {
	switch format {
	case FormatISO, FormatDMY, FormatMDY:
		return true
	case FormatUnixSeconds, FormatUnixMillis, FormatUnixMicros, FormatUnixNanos:
		return role == RoleTime
	}
	return false
}

// parseRange parses "A-B" with both ends non-negative integers.
func parseRange(s string) (int, int, bool) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, false
	}
	lo, err1 := strconv.Atoi(a)
	hi, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil || lo < 0 {
		return 0, 0, false
	}
	return lo, hi, true
}

// String formats the map in the syntax ParseMap reads, where it can.
func (m Map) String() string {
	var parts []string
	for _, e := range m.Columns {
		key := e.Role.String()
		if e.Role == RoleField && e.Name != "" {
			key = e.Name
		}
		col := e.Header
		if e.Column >= 0 {
			col = strconv.Itoa(e.Column)
		}
		if e.Format != "" {
			col += ":" + e.Format
		}
		parts = append(parts, key+"="+col)
	}
	if m.Source != "" {
		parts = append(parts, "source=@"+m.Source)
	}
	return strings.Join(parts, ",")
}
