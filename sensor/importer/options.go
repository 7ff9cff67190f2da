package importer

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/yuinet/yui/sensor"
)

// Default limits. They bound the memory one import uses whatever its input:
// at most one line of MaxLineBytes and the sample of SampleBytes are held
// at a time.
const (
	DefaultMaxLineBytes = 64 << 10
	DefaultMaxColumns   = 1024
	DefaultSampleBytes  = 1 << 20
	DefaultSampleRows   = 1000
	// DefaultKeptRejections is how many rejected rows Summary keeps in
	// full. Every rejected row is counted and passed to OnReject.
	DefaultKeptRejections = 1000
)

// DefaultMissing lists the cell texts read as missing values when
// Options.Missing is nil. Matching ignores case, so "nan" and "NULL" match
// too. A cell that is empty or only spaces is always missing.
var DefaultMissing = []string{"NA", "N/A", "NaN", "null", "none", "-", "?"}

// Options control an import. The zero value detects everything.
type Options struct {
	// Delimiter separates cells. Auto detects it from the sample.
	Delimiter Delimiter
	// Header is HeaderPresent when the first non-blank line names the
	// columns and HeaderAbsent when it is data. HeaderAuto detects it.
	Header HeaderMode
	// Decimal is the decimal separator of numbers, '.' or ','. Zero
	// detects it.
	Decimal byte
	// DateOrder is the order of day and month in dates such as
	// 03/04/2004. DateAuto decides from the sample and assumes day first
	// when the sample has no number above 12 to tell.
	DateOrder DateOrder
	// Comment, when non-zero, starts a comment line to skip wherever the
	// line's first non-space byte is Comment.
	Comment byte

	// Missing lists cell texts read as missing values, compared ignoring
	// case. An entry that parses as a number, such as "-200", also matches
	// any cell with that numeric value ("-200.0"). Nil means
	// DefaultMissing. Empty cells are always missing.
	Missing []string
	// KeepSentinels turns off the detection of numeric sentinels such as
	// -200 or -9999 (see the package documentation).
	KeepSentinels bool

	// Map assigns roles to columns by index or header name, overriding
	// detection for those columns, and may fix the source id. See
	// ParseMap. Without a fixed source id and without a source column, the
	// file's base name without extension is the source id.
	Map Map
	// Locations gives each source a location, used for the readings of
	// that source that have no location columns of their own.
	Locations Locations
	// TimeZone is the zone of times written without an offset. Nil means
	// UTC. Epoch numbers are always UTC.
	TimeZone *time.Location

	// Strict stops the import at the first rejected row.
	Strict bool
	// OnReject, when set, receives every rejected row as it is found.
	OnReject func(*RowError)
	// Progress, when set, receives the number of bytes read so far, about
	// every 64 KiB and once at the end, for a progress bar.
	Progress func(bytesRead int64)
	// Logger receives one line per import with the layout that detection
	// chose. Nil means slog.Default().
	Logger *slog.Logger

	// MaxLineBytes limits one line; a longer line is rejected without
	// being held in memory. Zero means DefaultMaxLineBytes.
	MaxLineBytes int
	// MaxColumns limits the cells of one line. Zero means DefaultMaxColumns.
	MaxColumns int
	// SampleBytes and SampleRows bound the sample of leading lines that
	// detection reads. Zero means DefaultSampleBytes and DefaultSampleRows.
	SampleBytes int
	SampleRows  int
	// KeptRejections is how many rejected rows Summary keeps in full.
	// Zero means DefaultKeptRejections; a negative value keeps none.
	KeptRejections int
}

// Locations maps a source id to where that source is.
type Locations map[string]sensor.Location

// Delimiter is the separator between the cells of a line.
type Delimiter uint8

const (
	// Auto detects the delimiter.
	Auto Delimiter = iota
	Comma
	Semicolon
	Tab
	Pipe
	// Whitespace splits on runs of spaces and tabs and ignores leading and
	// trailing ones, as in the ULB and Intel lab files.
	Whitespace
)

func (d Delimiter) String() string {
	switch d {
	case Comma:
		return "comma"
	case Semicolon:
		return "semicolon"
	case Tab:
		return "tab"
	case Pipe:
		return "pipe"
	case Whitespace:
		return "whitespace"
	}
	return "auto"
}

// ParseDelimiter returns the Delimiter that String names: auto, comma,
// semicolon, tab, pipe or whitespace.
func ParseDelimiter(name string) (Delimiter, error) {
	for d := Auto; d <= Whitespace; d++ {
		if d.String() == name {
			return d, nil
		}
	}
	return Auto, fmt.Errorf("unknown delimiter %q: want auto, comma, semicolon, tab, pipe or whitespace", name)
}

// char returns the delimiter byte, or 0 for Whitespace and Auto.
func (d Delimiter) char() byte {
	switch d {
	case Comma:
		return ','
	case Semicolon:
		return ';'
	case Tab:
		return '\t'
	case Pipe:
		return '|'
	}
	return 0
}

// HeaderMode is the presence of a header line: present, absent or
// detected.
type HeaderMode uint8

const (
	HeaderAuto HeaderMode = iota
	HeaderPresent
	HeaderAbsent
)

// DateOrder is the order of day and month in dates written with slashes,
// dots or dashes and the year last.
type DateOrder uint8

const (
	DateAuto DateOrder = iota
	// DayFirst reads 03/04/2004 as 3 April 2004.
	DayFirst
	// MonthFirst reads 03/04/2004 as 4 March 2004.
	MonthFirst
)

func (o Options) maxLine() int     { return orDefault(o.MaxLineBytes, DefaultMaxLineBytes) }
func (o Options) maxColumns() int  { return orDefault(o.MaxColumns, DefaultMaxColumns) }
func (o Options) sampleBytes() int { return orDefault(o.SampleBytes, DefaultSampleBytes) }
func (o Options) sampleRows() int  { return orDefault(o.SampleRows, DefaultSampleRows) }
func (o Options) zone() *time.Location {
	if o.TimeZone == nil {
		return time.UTC
	}
	return o.TimeZone
}

func (o Options) keptRejections() int {
	if o.KeptRejections < 0 {
		return 0
	}
	return orDefault(o.KeptRejections, DefaultKeptRejections)
}

func (o Options) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.Default()
	}
	return o.Logger
}

func (o Options) missing() []string {
	if o.Missing == nil {
		return DefaultMissing
	}
	return o.Missing
}

func orDefault(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}
