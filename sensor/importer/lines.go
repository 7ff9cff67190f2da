package importer

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// progressStep is how many bytes pass between two Progress calls.
const progressStep = 64 << 10

var (
	utf8BOM    = []byte{0xef, 0xbb, 0xbf}
	utf16LEBOM = []byte{0xff, 0xfe}
	utf16BEBOM = []byte{0xfe, 0xff}
)

// errLineTooLong is returned by lineReader.next for a line above the limit;
// the line has been skipped.
var errLineTooLong = errors.New("line too long")

// lineReader splits its input into lines without holding more than one
// line in memory. Lines end in "\n" or "\r\n"; the last may have no end.
type lineReader struct {
	br       *bufio.Reader
	maxLine  int
	number   int   // number of the line last returned, from 1
	read     int64 // bytes of the lines returned so far
	reported int64 // read at the last progress call
	progress func(int64)
	atStart  bool
}

func newLineReader(r io.Reader, maxLine int, progress func(int64)) *lineReader {
	// The buffer holds a whole line with its "\r\n", so ReadSlice can
	// return every line that is within the limit.
	return &lineReader{
		br:       bufio.NewReaderSize(r, maxLine+2),
		maxLine:  maxLine,
		progress: progress,
		atStart:  true,
	}
}

// bom checks the start of the input for a byte order mark. It skips a
// UTF-8 BOM and returns an error for a UTF-16 one.
func (lr *lineReader) bom() error {
	lr.atStart = false
	head, _ := lr.br.Peek(3)
	switch {
	case bytes.HasPrefix(head, utf8BOM):
		lr.br.Discard(len(utf8BOM))
		lr.read += int64(len(utf8BOM))
	case bytes.HasPrefix(head, utf16LEBOM), bytes.HasPrefix(head, utf16BEBOM):
		return errUTF16
	}
	return nil
}

var errUTF16 = errors.New("the file is UTF-16 text: convert it to UTF-8, for example with iconv -f UTF-16 -t UTF-8")

// next returns the next line without its line end, and whether a line end
// followed it. The slice is valid until the next call. At the end of the
// input it returns io.EOF. A line longer than maxLine is skipped and
// reported as errLineTooLong, with number set to its line number.
func (lr *lineReader) next() (line []byte, ended bool, err error) {
	if lr.atStart {
		if err := lr.bom(); err != nil {
			return nil, false, err
		}
	}

	line, err = lr.br.ReadSlice('\n')
	lr.read += int64(len(line))
	if errors.Is(err, bufio.ErrBufferFull) {
		lr.number++
		return nil, false, lr.skipRest()
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, false, err
	}
	if len(line) == 0 {
		lr.report(true)
		return nil, false, io.EOF
	}

	lr.number++
	lr.report(false)
	ended = line[len(line)-1] == '\n'
	if ended {
		line = line[:len(line)-1]
	}
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if len(line) > lr.maxLine {
		return nil, ended, errLineTooLong
	}
	return line, ended, nil
}

// skipRest discards the rest of an over-long line.
func (lr *lineReader) skipRest() error {
	for {
		chunk, err := lr.br.ReadSlice('\n')
		lr.read += int64(len(chunk))
		switch {
		case err == nil, errors.Is(err, io.EOF):
			lr.report(false)
			return errLineTooLong
		case !errors.Is(err, bufio.ErrBufferFull):
			return err
		}
	}
}

// report calls the progress function every progressStep bytes, and at the
// end of the input when final is set.
func (lr *lineReader) report(final bool) {
	if lr.progress == nil {
		return
	}
	if final || lr.read-lr.reported >= progressStep {
		lr.reported = lr.read
		lr.progress(lr.read)
	}
}
