package importer

import (
	"fmt"
	"strconv"
	"strings"
)

// Layout is the structure of a file as the importer reads it: what
// detection found, with Options and the column map applied. Reader.Layout
// returns it so a user can check the guesses before trusting an import.
type Layout struct {
	Delimiter Delimiter
	// HeaderLine is the line number of the header, or 0 for none.
	HeaderLine int
	// Decimal is the decimal separator, '.' or ','.
	Decimal   byte
	DateOrder DateOrder
	Columns   []Column
	// Sentinels are the numbers read as missing in numeric fields: the
	// numeric entries of Options.Missing and the detected sentinels.
	Sentinels []float64
	// Source is the source id of every reading when no column is the
	// source.
	Source string
	// Notes explain the guesses detection made, one sentence each.
	Notes []string
}

// Column is one column of a Layout.
type Column struct {
	Index int
	// Header is the column's header cell, or "" without a header.
	Header string
	Role   Role
	// Name is the field name, for RoleField.
	Name string
	// Kind is "number", "text" or "any" (number where the cell parses as
	// one, else text) for a field, and the time format for RoleTime and
	// RoleDate: one of unix_s, unix_ms, unix_us, unix_ns, date-time, date
	// or time of day.
	Kind string

	time     timeKind
	field    fieldKind
	grouped  bool // digit groups seen split into two whitespace cells
	integers bool // every sample value is an integer
}

// fieldKind is the type of value a field column's cells become.
type fieldKind uint8

const (
	fieldAny fieldKind = iota
	fieldNumber
	fieldText
)

func (k fieldKind) String() string {
	return [...]string{fieldAny: "any", fieldNumber: "number", fieldText: "text"}[k]
}

// String describes the layout on one line, since log handlers quote a
// value that spans lines.
func (l *Layout) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "delimiter %s, ", l.Delimiter)
	if l.HeaderLine > 0 {
		fmt.Fprintf(&b, "header on line %d, ", l.HeaderLine)
	} else {
		b.WriteString("no header, ")
	}
	fmt.Fprintf(&b, "decimal %q", l.Decimal)
	if len(l.Sentinels) > 0 {
		fmt.Fprintf(&b, ", missing numbers %v", l.Sentinels)
	}
	if l.Source != "" {
		fmt.Fprintf(&b, ", source %q", l.Source)
	}
	b.WriteString("; columns:")
	for _, c := range l.Columns {
		fmt.Fprintf(&b, " %s", c.String())
	}
	for _, n := range l.Notes {
		b.WriteString("; note: " + n)
	}
	return b.String()
}

// String formats the column as index=role, with its name and kind.
func (c Column) String() string {
	s := strconv.Itoa(c.Index) + "=" + c.Role.String()
	switch c.Role {
	case RoleField:
		s += "(" + strconv.Quote(c.Name) + " " + c.Kind + ")"
	case RoleTime, RoleDate:
		s += "(" + c.Kind + ")"
	}
	return s
}

// Map returns the layout's column roles as a Map. Its String form is in
// ParseMap's syntax, so a user can fix a guess and pass the map back.
func (l *Layout) Map() Map {
	var m Map
	for _, c := range l.Columns {
		e := MapEntry{Role: c.Role, Column: c.Index}
		if c.Role == RoleField {
			e.Name = c.Name
		}
		if c.time.epoch() {
			e.Format = c.time.String()
		}
		m.Columns = append(m.Columns, e)
	}
	return m
}
