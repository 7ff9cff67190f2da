package importer

import (
	"errors"
	"fmt"
)

// Errors returned by this package. File-level errors wrap one of them with
// the file's name and, where one is at fault, the line number.
var (
	// ErrEmpty reports a file with no bytes, or only blank lines.
	ErrEmpty = errors.New("importer: file is empty")
	// ErrBinary reports a file that is not text: it has NUL bytes or many
	// control characters, or it is UTF-16.
	ErrBinary = errors.New("importer: not a text file")
	// ErrNoData reports a file with a header and no data rows.
	ErrNoData = errors.New("importer: no data rows")
	// ErrLayout reports a layout that detection cannot settle, or a Map
	// that contradicts the file.
	ErrLayout = errors.New("importer: cannot read the file's layout")
	// ErrMap reports a column map that does not parse or contradicts
	// itself.
	ErrMap = errors.New("importer: invalid column map")
	// ErrRejected reports a rejected row when Options.Strict is set. The
	// error is a *RowError.
	ErrRejected = errors.New("importer: row rejected")
)

// Reason is the cause of a row's rejection.
type Reason uint8

const (
	// ReasonColumns: the row has more or fewer cells than the layout.
	ReasonColumns Reason = iota + 1
	// ReasonTime: the time, date or time of day does not parse, or the
	// time is outside the range sensor.Reading accepts.
	ReasonTime
	// ReasonNumber: a numeric field does not parse as a finite number.
	ReasonNumber
	// ReasonText: a text field is too long.
	ReasonText
	// ReasonSource: the source id is empty or invalid.
	ReasonSource
	// ReasonLocation: a coordinate does not parse, is out of range, or
	// only one of a pair is given.
	ReasonLocation
	// ReasonQuote: a quoted cell is not closed on its line.
	ReasonQuote
	// ReasonLineTooLong: the line exceeds Options.MaxLineBytes.
	ReasonLineTooLong
	// ReasonBinary: the line holds NUL or other control bytes.
	ReasonBinary
	// ReasonDuplicate: a location table names the same source twice.
	ReasonDuplicate
	// ReasonTruncated: the last line has no line end and does not parse,
	// as when a file was cut off while being written or copied.
	ReasonTruncated
)

var reasonNames = [...]string{
	ReasonColumns:     "wrong number of cells",
	ReasonTime:        "invalid time",
	ReasonNumber:      "invalid number",
	ReasonText:        "invalid text",
	ReasonSource:      "invalid source id",
	ReasonLocation:    "invalid location",
	ReasonQuote:       "unclosed quote",
	ReasonLineTooLong: "line too long",
	ReasonBinary:      "binary data",
	ReasonDuplicate:   "duplicate source",
	ReasonTruncated:   "truncated last line",
}

func (r Reason) String() string {
	if int(r) < len(reasonNames) && reasonNames[r] != "" {
		return reasonNames[r]
	}
	return fmt.Sprintf("Reason(%d)", uint8(r))
}

// RowError describes one rejected row.
type RowError struct {
	File   string
	Line   int // from 1
	Reason Reason
	// Column is the 0-based column at fault, or -1 for the whole row.
	Column int
	// Detail names the value at fault and, where it helps, the fix.
	Detail string
}

// Error formats the rejection as file:line: reason: detail.
func (e *RowError) Error() string {
	col := ""
	if e.Column >= 0 {
		col = fmt.Sprintf(" (column %d)", e.Column)
	}
	return fmt.Sprintf("%s:%d: %s%s: %s", e.File, e.Line, e.Reason, col, e.Detail)
}

// Unwrap makes errors.Is(err, ErrRejected) hold for a *RowError.
func (e *RowError) Unwrap() error { return ErrRejected }
