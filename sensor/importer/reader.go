package importer

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"unicode/utf8"

	"github.com/yuinet/yui/sensor"
)

// binaryProbe is how many leading bytes are checked for binary content.
const binaryProbe = 8 << 10

// Summary counts what an import read and produced.
type Summary struct {
	File string
	// Bytes is the number of bytes read.
	Bytes int64
	// Lines counts every line, whether header, blank, comment or row.
	Lines        int
	HeaderLines  int
	BlankLines   int
	CommentLines int
	// Rows counts data rows: Readings plus Rejected.
	Rows     int
	Readings int
	Rejected int
	// ByReason counts rejected rows by reason.
	ByReason map[Reason]int
	// Rejections holds the first Options.KeptRejections rejected rows.
	Rejections []RowError
	// MissingValues counts field cells read as missing.
	MissingValues int
	Layout        *Layout
}

// String formats the counts on one line.
func (s *Summary) String() string {
	return fmt.Sprintf("%s: %d bytes, %d lines, %d rows, %d readings, %d rejected, %d missing values",
		s.File, s.Bytes, s.Lines, s.Rows, s.Readings, s.Rejected, s.MissingValues)
}

// Reader reads sensor readings from a delimited text file. It reads a
// sample of the leading lines to detect the layout, then streams the rest,
// holding one line at a time. A Reader is not safe for concurrent use.
type Reader struct {
	file     string
	opts     Options
	lines    *lineReader
	layout   *Layout
	row      rowParser
	sample   []sampleLine
	replayed int
	summary  Summary
	err      error // sticky: returned by every later Next
	line     int   // line of the reading Next returned last
	location bool  // reading a location table: no time column
}

// NewReader reads the sample from r and detects the layout. file names
// the input in errors and rejected rows, and gives the default source id.
// It fails with ErrEmpty, ErrBinary, ErrNoData, ErrLayout or ErrMap,
// wrapped with the file name and, where one is at fault, the line, or with
// the error of reading r.
func NewReader(r io.Reader, file string, opts Options) (*Reader, error) {
	return newReader(r, file, opts, false)
}

func newReader(r io.Reader, file string, opts Options, location bool) (*Reader, error) {
	rd := &Reader{
		file:     file,
		opts:     opts,
		lines:    newLineReader(r, opts.maxLine(), opts.Progress),
		location: location,
		summary:  Summary{File: file, ByReason: map[Reason]int{}},
	}
	if err := rd.checkBinary(); err != nil {
		return nil, err
	}
	if err := rd.readSample(); err != nil {
		return nil, err
	}
	layout, err := detectLayout(rd.sample, opts, file, !location)
	var headerOnly *headerOnlyError
	switch {
	case errors.Is(err, errNoLines):
		return nil, rd.emptyError()
	case errors.As(err, &headerOnly):
		return nil, rd.noDataError(headerOnly.line)
	case err != nil:
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	rd.layout = layout
	rd.summary.Layout = layout
	rd.row = newRowParser(file, layout, opts, location)
	opts.logger().Info("importer: layout detected", "file", file, "layout", layout.String())
	return rd, nil
}

// checkBinary looks at the first bytes for signs of a binary file. Each of
// these is one: a UTF-16 byte order mark, a NUL byte together with more
// than 5% bytes that are control bytes or not UTF-8, or more than 10%
// control bytes. Control bytes are those below 0x20 other than tab, line
// feed, carriage return and form feed. A stray NUL in a text file, such as
// the zeros a data logger leaves after a power cut, only rejects its line.
func (rd *Reader) checkBinary() error {
	if err := rd.lines.bom(); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrBinary, rd.file, err)
	}
	head, _ := rd.lines.br.Peek(min(binaryProbe, rd.lines.br.Size()))
	control, invalid, firstNUL := 0, 0, -1
	for i := 0; i < len(head); {
		c := head[i]
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRune(head[i:])
			if r == utf8.RuneError && n == 1 {
				invalid++
			}
			i += n
			continue
		}
		if c == 0 && firstNUL < 0 {
			firstNUL = i
		}
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' {
			control++
		}
		i++
	}
	if firstNUL >= 0 && (control+invalid)*20 > len(head) {
		line := 1 + countByte(head[:firstNUL], '\n')
		return fmt.Errorf("%w: %s: NUL byte at offset %d (line %d): this looks like a binary file, not a text table", ErrBinary, rd.file, firstNUL, line)
	}
	if control*10 > len(head) {
		return fmt.Errorf("%w: %s: %d of the first %d bytes are control characters: this looks like a binary file, not a text table", ErrBinary, rd.file, control, len(head))
	}
	return nil
}

func countByte(b []byte, c byte) int {
	n := 0
	for _, x := range b {
		if x == c {
			n++
		}
	}
	return n
}

// readSample reads lines until the sample holds SampleRows non-blank lines
// or SampleBytes bytes, or the input ends. Blank and over-long lines count
// towards the byte limit too, and the sample holds at most eight times
// SampleRows lines, so that no input makes it grow without bound.
func (rd *Reader) readSample() error {
	rows, size := 0, 0
	for rows < rd.opts.sampleRows() && size < rd.opts.sampleBytes() && len(rd.sample) < 8*rd.opts.sampleRows() {
		line, ended, err := rd.lines.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil && !errors.Is(err, errLineTooLong) {
			return fmt.Errorf("importer: %s: read: %w", rd.file, err)
		}
		s := sampleLine{number: rd.lines.number, ended: ended, err: err}
		size += len(line) + 1
		if err != nil {
			size += rd.opts.maxLine()
		} else {
			s.text = append([]byte(nil), line...)
			if !isBlank(line) {
				rows++
			}
		}
		rd.sample = append(rd.sample, s)
	}
	return nil
}

func (rd *Reader) emptyError() error {
	n := len(rd.sample)
	switch {
	case rd.lines.read == 0:
		return fmt.Errorf("%w: %s has no bytes", ErrEmpty, rd.file)
	case n > 0 && rd.sample[0].err != nil:
		return fmt.Errorf("%w: %s:%d: line is longer than %d bytes and no shorter line follows in the sample", ErrLayout, rd.file, rd.sample[0].number, rd.opts.maxLine())
	}
	for _, s := range rd.sample {
		if i := hasControl(s.text); i >= 0 {
			return fmt.Errorf("%w: %s:%d: control byte 0x%02x at byte %d: this looks like a binary file, not a text table", ErrBinary, rd.file, s.number, s.text[i], i+1)
		}
	}
	if _, err := rd.lines.br.Peek(1); err == nil {
		return fmt.Errorf("%w: %s: the first %d lines are blank or comments: raise Options.SampleRows to look further", ErrLayout, rd.file, n)
	}
	return fmt.Errorf("%w: %s has only blank or comment lines (%d)", ErrEmpty, rd.file, n)
}

// noDataError explains a sample with a header and no data rows.
func (rd *Reader) noDataError(header int) error {
	if _, err := rd.lines.br.Peek(1); err == nil {
		return fmt.Errorf("%w: %s:%d: a header and no data rows in the first %d lines: raise Options.SampleRows or SampleBytes",
			ErrLayout, rd.file, header, len(rd.sample))
	}
	return fmt.Errorf("%w: %s:%d: the file has a header and no data rows after it", ErrNoData, rd.file, header)
}

// Line returns the line number of the reading Next returned last.
func (rd *Reader) Line() int { return rd.line }

// Layout returns the detected layout.
func (rd *Reader) Layout() *Layout { return rd.layout }

// Summary returns the counts so far; after Next returns io.EOF they cover
// the whole input.
func (rd *Reader) Summary() Summary {
	s := rd.summary
	s.Bytes = rd.lines.read
	s.ByReason = maps.Clone(s.ByReason)
	s.Rejections = slices.Clone(s.Rejections)
	return s
}

// Next returns the next reading, skipping and reporting rejected rows. It
// returns io.EOF at the end of the input. With Options.Strict, the first
// rejected row ends the import with a *RowError. A read error ends it too.
// Both are returned again by every later call.
func (rd *Reader) Next() (sensor.Reading, error) {
	for rd.err == nil {
		line, number, ended, err := rd.nextLine()
		if err != nil && !errors.Is(err, errLineTooLong) {
			rd.err = err
			break
		}
		rd.summary.Lines++
		if errors.Is(err, errLineTooLong) {
			rd.reject(&RowError{Line: number, Reason: ReasonLineTooLong, Column: -1,
				Detail: fmt.Sprintf("line is longer than %d bytes: raise Options.MaxLineBytes if it is valid", rd.opts.maxLine())})
			continue
		}
		if r, ok := rd.parseLine(line, number, ended); ok {
			rd.line = number
			rd.summary.Readings++
			return r, nil
		}
	}
	return sensor.Reading{}, rd.err
}

// parseLine turns one line into a reading, or counts it as a header,
// blank or comment line, or rejects it.
func (rd *Reader) parseLine(line []byte, number int, ended bool) (sensor.Reading, bool) {
	switch {
	case number == rd.layout.HeaderLine:
		rd.summary.HeaderLines++
		return sensor.Reading{}, false
	case isComment(line, rd.opts.Comment):
		rd.summary.CommentLines++
		return sensor.Reading{}, false
	}
	r, rowErr := rd.row.parse(line)
	switch {
	case errors.Is(rowErr, errBlank):
		rd.summary.BlankLines++
		return sensor.Reading{}, false
	case rowErr != nil:
		e := rowErr.(*RowError)
		e.Line = number
		if !ended {
			e.Detail = fmt.Sprintf("the last line has no line end, so the file may have been cut off (%s: %s)", e.Reason, e.Detail)
			e.Reason = ReasonTruncated
		}
		rd.reject(e)
		return sensor.Reading{}, false
	}
	rd.summary.Rows++
	rd.summary.MissingValues += rd.row.missingInRow
	return r, true
}

// nextLine returns the next line, from the sample first and then from
// the input. At the end it returns io.EOF.
func (rd *Reader) nextLine() ([]byte, int, bool, error) {
	if rd.replayed < len(rd.sample) {
		s := rd.sample[rd.replayed]
		rd.replayed++
		if rd.replayed == len(rd.sample) {
			rd.sample = nil // let the sample's memory go
			rd.replayed = 0
		}
		return s.text, s.number, s.ended, s.err
	}
	line, ended, err := rd.lines.next()
	if err != nil && !errors.Is(err, errLineTooLong) && !errors.Is(err, io.EOF) {
		err = fmt.Errorf("importer: %s:%d: read: %w", rd.file, rd.lines.number+1, err)
	}
	return line, rd.lines.number, ended, err
}

// reject records a rejected row and, with Strict, ends the import.
func (rd *Reader) reject(e *RowError) {
	e.File = rd.file
	rd.summary.Rows++
	rd.summary.Rejected++
	rd.summary.ByReason[e.Reason]++
	if len(rd.summary.Rejections) < rd.opts.keptRejections() {
		rd.summary.Rejections = append(rd.summary.Rejections, *e)
	}
	if rd.opts.OnReject != nil {
		rd.opts.OnReject(e)
	}
	if rd.opts.Strict {
		rd.err = e
	}
}

// Import reads every reading of r and passes it to emit, which may stop
// the import by returning an error. It returns the summary and the first
// error that ended the import early, or nil.
func Import(r io.Reader, file string, opts Options, emit func(sensor.Reading) error) (Summary, error) {
	rd, err := NewReader(r, file, opts)
	if err != nil {
		return Summary{File: file}, err
	}
	for {
		reading, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return rd.Summary(), nil
		}
		if err != nil {
			return rd.Summary(), err
		}
		if err := emit(reading); err != nil {
			return rd.Summary(), err
		}
	}
}

// ImportFile imports the file at path; see Import.
func ImportFile(path string, opts Options, emit func(sensor.Reading) error) (Summary, error) {
	f, err := os.Open(path)
	if err != nil {
		return Summary{File: path}, fmt.Errorf("importer: %w", err)
	}
	defer f.Close()
	return Import(f, path, opts, emit)
}
