package importer

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/yuinet/yui/sensor"
)

// Header names that suggest a role, compared after lowercasing and
// dropping everything but letters and digits, so "Node ID", "node_id" and
// "NodeID" all match "nodeid".
var roleHints = map[Role][]string{
	RoleSource: {"id", "nodeid", "node", "moteid", "mote", "sensorid", "sensor", "deviceid", "device",
		"station", "stationid", "source", "sourceid", "deveui"},
	RoleTime: {"time", "timestamp", "datetime", "ts", "epoch", "unixtime", "timeutc", "datetimeutc"},
	RoleDate: {"date", "day"},
	RoleLat:  {"lat", "latitude"},
	RoleLon:  {"lon", "lng", "long", "longitude"},
	RoleX:    {"x", "xlocation", "xloc", "xpos", "posx", "xm"},
	RoleY:    {"y", "ylocation", "yloc", "ypos", "posy", "ym"},
}

// assignRoles gives every column a role: first from the column map, then
// by detection.
func (d *detection) assignRoles() error {
	d.roles = make([]Role, d.width)
	d.names = make([]string, d.width)
	d.kinds = make([]timeKind, d.width)
	if err := d.applyMap(); err != nil {
		return err
	}
	if d.wantTime {
		if err := d.assignTime(); err != nil {
			return err
		}
	}
	d.assignSource()
	d.assignLocation()
	for j := range d.width {
		if d.roles[j] != 0 {
			continue
		}
		d.roles[j] = RoleField
		if d.headerCell(j) == "" && d.stats[j].values() == 0 {
			d.roles[j] = RoleIgnore
		}
	}
	d.nameFields()
	return d.checkRoles()
}

// applyMap assigns the roles the column map names.
func (d *detection) applyMap() error {
	m := d.opts.Map
	d.layout.Source = m.Source
	for _, e := range m.Columns {
		j, err := d.resolve(e)
		if err != nil {
			return err
		}
		if d.roles[j] != 0 {
			return fmt.Errorf("%w: column %d is mapped twice, as %s and %s", ErrMap, j, d.roles[j], e.Role)
		}
		d.roles[j] = e.Role
		d.names[j] = e.Name
		if e.Role == RoleTime || e.Role == RoleDate {
			if err := d.mapTime(j, e); err != nil {
				return err
			}
		}
	}
	return nil
}

// resolve returns the column index a map entry names.
func (d *detection) resolve(e MapEntry) (int, error) {
	if e.Column >= 0 {
		if e.Column >= d.width {
			return 0, fmt.Errorf("%w: the map names column %d, but the file has %d columns (0 to %d)", ErrLayout, e.Column, d.width, d.width-1)
		}
		return e.Column, nil
	}
	if d.header == nil {
		return 0, fmt.Errorf("%w: the map names column %q, but the file has no header: use column numbers from 0", ErrLayout, e.Header)
	}
	for j := range d.width {
		if strings.EqualFold(strings.TrimSpace(d.headerCell(j)), e.Header) {
			return j, nil
		}
	}
	return 0, fmt.Errorf("%w: the map names column %q, but the header has no such cell", ErrLayout, e.Header)
}

// mapTime sets the time kind of a mapped time or date column from its
// format, or from detection when the entry gives none.
func (d *detection) mapTime(j int, e MapEntry) error {
	switch e.Format {
	case FormatUnixSeconds:
		d.kinds[j] = timeUnixS
	case FormatUnixMillis:
		d.kinds[j] = timeUnixMS
	case FormatUnixMicros:
		d.kinds[j] = timeUnixUS
	case FormatUnixNanos:
		d.kinds[j] = timeUnixNS
	default:
		d.kinds[j] = d.stats[j].timeKind()
		if e.Role == RoleDate {
			d.kinds[j] = timeDate
		} else if d.kinds[j] == timeNone && e.Format != "" {
			d.kinds[j] = timeDateTime
		}
	}
	switch e.Format {
	case FormatDMY:
		d.layout.DateOrder = DayFirst
	case FormatMDY:
		d.layout.DateOrder = MonthFirst
	}
	if d.kinds[j] == timeNone {
		return fmt.Errorf("%w: column %d is mapped to %s, but its cells (such as %q) are not times: add a format, as in %s=%d:unix_ms",
			ErrLayout, j, e.Role, d.stats[j].example, e.Role, j)
	}
	return nil
}

// assignTime picks the time columns when the map names none: a date-time
// column, else a date and a time-of-day column, else an epoch column, else
// a date column alone. Among several of a kind, a column whose header
// suggests a time wins, then the leftmost.
func (d *detection) assignTime() error {
	date, clock := d.find(RoleDate), d.find(RoleTime)
	if date >= 0 || clock >= 0 {
		if date >= 0 && clock < 0 {
			if j := d.pick(RoleTime, timeOfDay); j >= 0 {
				d.setTime(j, RoleTime, timeOfDay)
			}
		}
		return nil
	}
	if j := d.pick(RoleTime, timeDateTime); j >= 0 {
		d.setTime(j, RoleTime, timeDateTime)
		return nil
	}
	dateCol, clockCol := d.pick(RoleDate, timeDate), d.pick(RoleTime, timeOfDay)
	if dateCol >= 0 {
		d.setTime(dateCol, RoleDate, timeDate)
		if clockCol >= 0 {
			d.setTime(clockCol, RoleTime, timeOfDay)
		}
		return nil
	}
	for _, k := range []timeKind{timeUnixMS, timeUnixS, timeUnixUS, timeUnixNS} {
		if j := d.pick(RoleTime, k); j >= 0 {
			d.setTime(j, RoleTime, k)
			return nil
		}
	}
	return fmt.Errorf("%w: no time column found (epoch numbers from 2000 to 2100, dates, or dates with times): name it with a map such as time=0 or date=0,time=1", ErrLayout)
}

func (d *detection) setTime(j int, r Role, k timeKind) {
	d.roles[j] = r
	d.kinds[j] = k
}

// find returns the column with role r, or -1.
func (d *detection) find(r Role) int {
	for j, role := range d.roles {
		if role == r {
			return j
		}
	}
	return -1
}

// pick returns the unassigned column of time kind k whose header suggests
// hint, else the leftmost unassigned column of kind k, or -1.
func (d *detection) pick(hint Role, k timeKind) int {
	first := -1
	for j := range d.width {
		if d.roles[j] != 0 || d.columnTimeKind(j) != k {
			continue
		}
		if d.hinted(j, hint) {
			return j
		}
		if first < 0 {
			first = j
		}
	}
	return first
}

func (d *detection) columnTimeKind(j int) timeKind {
	return d.stats[j].timeKind()
}

// hinted reports whether column j's header suggests role r.
func (d *detection) hinted(j int, r Role) bool {
	h := normalizeHeader(d.headerCell(j))
	for _, s := range roleHints[r] {
		if h == s {
			return true
		}
	}
	return false
}

func normalizeHeader(s string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(s) {
		if unicode.IsLetter(c) || unicode.IsDigit(c) {
			b.WriteRune(c)
		}
	}
	return b.String()
}

// assignSource picks the source column when neither the map nor a fixed
// source id settles it. It takes a column whose header suggests a source
// id. In a file without a header, it takes the leftmost column of integers
// in which some value repeats, as node ids repeat in a log of many nodes.
func (d *detection) assignSource() {
	if d.layout.Source != "" || d.find(RoleSource) >= 0 {
		return
	}
	for j := range d.width {
		if d.roles[j] == 0 && d.hinted(j, RoleSource) {
			d.roles[j] = RoleSource
			return
		}
	}
	if d.header != nil {
		return
	}
	for j := range d.width {
		s := &d.stats[j]
		if d.roles[j] != 0 || s.values() < 4 || s.integers != s.values() || d.grouped[j] {
			continue
		}
		if n := len(s.distinct); n <= maxDistinct && n*2 <= s.values() {
			d.roles[j] = RoleSource
			d.note(fmt.Sprintf("column %d is taken as the source id: the leftmost integer column with repeated values; map source=N to choose another", j))
			return
		}
	}
}

// assignLocation picks lat/lon or x/y columns by their headers, only as
// pairs of numeric columns. A file without a header and with exactly three
// numeric columns is read as a location table source x y when no time is
// wanted, as in the Intel lab's mote_locs.txt without its header.
func (d *detection) assignLocation() {
	for _, pair := range [][2]Role{{RoleLat, RoleLon}, {RoleX, RoleY}} {
		if d.find(pair[0]) >= 0 || d.find(pair[1]) >= 0 {
			continue
		}
		a, b := d.hintedNumber(pair[0]), d.hintedNumber(pair[1])
		if a >= 0 && b >= 0 {
			d.roles[a], d.roles[b] = pair[0], pair[1]
		}
	}
	if d.wantTime || d.header != nil || d.width != 3 || d.find(RoleX) >= 0 || d.find(RoleLat) >= 0 {
		return
	}
	free := 0
	for j := range d.width {
		if d.roles[j] == 0 && d.stats[j].fieldKind() == fieldNumber {
			free++
		}
	}
	if free == 3 {
		d.roles[0], d.roles[1], d.roles[2] = RoleSource, RoleX, RoleY
		d.note("no header: columns are read as source id, x, y")
	}
}

func (d *detection) hintedNumber(r Role) int {
	for j := range d.width {
		if d.roles[j] == 0 && d.hinted(j, r) && d.stats[j].fieldKind() != fieldText {
			return j
		}
	}
	return -1
}

// nameFields names every field column: the map's name, else the header
// cell, else colN. A repeated name gets a suffix _2, _3 and so on.
func (d *detection) nameFields() {
	used := map[string]bool{}
	for j := range d.width {
		if d.roles[j] != RoleField {
			continue
		}
		name := cleanName(d.names[j], sensor.MaxFieldNameLen)
		if name == "" {
			name = cleanName(d.headerCell(j), sensor.MaxFieldNameLen)
		}
		if name == "" {
			name = "col" + strconv.Itoa(j)
		}
		base := name
		for n := 2; used[name]; n++ {
			suffix := "_" + strconv.Itoa(n)
			name = truncate(base, sensor.MaxFieldNameLen-len(suffix)) + suffix
		}
		used[name] = true
		d.names[j] = name
	}
}

// cleanName makes s a valid name: printable characters only, no leading
// or trailing spaces, at most limit bytes.
func cleanName(s string, limit int) string {
	s = strings.Map(func(c rune) rune {
		if !unicode.IsPrint(c) {
			return ' '
		}
		return c
	}, s)
	return strings.TrimSpace(truncate(strings.TrimSpace(s), limit))
}

// truncate cuts s to at most n bytes without splitting a character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// checkRoles rejects layouts that cannot produce readings, and settles the
// source id of files without a source column.
func (d *detection) checkRoles() error {
	count := map[Role]int{}
	for _, r := range d.roles {
		count[r]++
	}
	for _, r := range []Role{RoleTime, RoleDate, RoleSource, RoleLat, RoleLon, RoleX, RoleY} {
		if count[r] > 1 {
			return fmt.Errorf("%w: %d columns are mapped to %s: map only one", ErrMap, count[r], r)
		}
	}
	if count[RoleLat] != count[RoleLon] || count[RoleX] != count[RoleY] {
		return fmt.Errorf("%w: a location needs both lat and lon, or both x and y", ErrMap)
	}
	if count[RoleLat] > 0 && count[RoleX] > 0 {
		return fmt.Errorf("%w: map either lat and lon or x and y, not both", ErrMap)
	}
	if date, t := d.find(RoleDate), d.find(RoleTime); date >= 0 && t >= 0 && d.kinds[t] != timeOfDay {
		return fmt.Errorf("%w: with a date column (%d), the time column (%d) must hold times of day, not %s", ErrLayout, date, t, d.kinds[t])
	}
	if d.layout.Source != "" {
		if count[RoleSource] > 0 {
			return fmt.Errorf("%w: the map fixes source id %q and also names a source column", ErrMap, d.layout.Source)
		}
		if err := sensor.ValidateSource(d.layout.Source); err != nil {
			return fmt.Errorf("%w: fixed source id: %v", ErrMap, err)
		}
	}
	if d.layout.Source == "" && count[RoleSource] == 0 {
		d.layout.Source = fileSource(d.file)
		d.note(fmt.Sprintf("no source column: every reading has source id %q, from the file name; map source=N or source=@ID to change it", d.layout.Source))
	}
	return nil
}
