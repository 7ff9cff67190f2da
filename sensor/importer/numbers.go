package importer

import (
	"bytes"
	"strconv"
	"unicode/utf8"
)

// numberParser parses numeric cells written with one decimal separator.
// It accepts an optional sign, digits, a fraction and an exponent. Digits
// may come in groups of three separated by a space, a no-break space
// (Latin-1 or UTF-8), a narrow no-break space, a thin space, or the
// separator that is not the decimal one ("1,000.5" or "1.000,5"). It
// rejects "Inf", "NaN", hex and anything else that strconv.ParseFloat
// would accept beyond that.
type numberParser struct {
	decimal byte
	buf     []byte
}

// parse returns the cell's value and whether it has neither fraction nor
// exponent. ok is false for a cell that is not a finite number.
func (p *numberParser) parse(cell []byte) (v float64, integer, ok bool) {
	b := p.buf[:0]
	i := 0
	if i < len(cell) && (cell[i] == '-' || cell[i] == '+') {
		b = append(b, cell[i])
		i++
	}
	b, i, digits, ok := p.integerPart(b, cell, i)
	if !ok {
		return 0, false, false
	}

	integer = true
	if i < len(cell) && cell[i] == p.decimal {
		integer = false
		b = append(b, '.')
		i++
		start := i
		for i < len(cell) && isDigit(cell[i]) {
			b = append(b, cell[i])
			i++
		}
		digits += i - start
	}
	if digits == 0 {
		return 0, false, false
	}

	if i < len(cell) && (cell[i] == 'e' || cell[i] == 'E') {
		integer = false
		b, i, ok = exponent(b, cell, i)
		if !ok {
			return 0, false, false
		}
	}
	p.buf = b
	if i != len(cell) {
		return 0, false, false
	}

	// ParseFloat reports values beyond float64 as ±Inf with an error.
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return 0, false, false
	}
	return v, integer, true
}

// integerPart copies the digits before the decimal separator into b,
// dropping group separators after checking that every group but the first
// has three digits and the first has one to three.
func (p *numberParser) integerPart(b, cell []byte, i int) ([]byte, int, int, bool) {
	digits, group := 0, -1 // group counts digits since the last separator, -1 before the first
	for i < len(cell) {
		c := cell[i]
		if isDigit(c) {
			b = append(b, c)
			digits++
			if group >= 0 {
				group++
			}
			i++
			continue
		}
		n := groupSeparator(cell[i:], p.decimal)
		if n == 0 {
			break
		}
		if digits == 0 || (group < 0 && digits > 3) || (group >= 0 && group != 3) {
			return b, i, digits, false
		}
		group = 0
		i += n
	}
	return b, i, digits, group < 0 || group == 3
}

func exponent(b, cell []byte, i int) ([]byte, int, bool) {
	b = append(b, 'e')
	i++
	if i < len(cell) && (cell[i] == '-' || cell[i] == '+') {
		b = append(b, cell[i])
		i++
	}
	start := i
	for i < len(cell) && isDigit(cell[i]) {
		b = append(b, cell[i])
		i++
	}
	return b, i, i > start
}

// groupSeparator returns the length of the digit group separator at the
// start of rest, or 0.
func groupSeparator(rest []byte, decimal byte) int {
	switch {
	case rest[0] == ' ' || rest[0] == 0xa0: // space, Latin-1 no-break space
		return 1
	case rest[0] == ',' && decimal == '.', rest[0] == '.' && decimal == ',':
		return 1
	case rest[0] >= utf8.RuneSelf:
		r, n := utf8.DecodeRune(rest)
		if r == '\u00a0' || r == '\u202f' || r == '\u2009' { // no-break, narrow no-break, thin
			return n
		}
	}
	return 0
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// missingSet recognizes missing values: empty cells, the marker texts and,
// for numeric columns, the marker numbers.
type missingSet struct {
	texts   [][]byte
	maxLen  int // of texts, to skip the comparisons for longer cells
	numbers []float64
}

func newMissingSet(markers []string) *missingSet {
	m := &missingSet{}
	p := numberParser{decimal: '.'}
	for _, s := range markers {
		m.texts = append(m.texts, []byte(s))
		m.maxLen = max(m.maxLen, len(s))
		if v, _, ok := p.parse([]byte(s)); ok {
			m.numbers = append(m.numbers, v)
		}
	}
	return m
}

// text reports whether a cell is empty or equal, ignoring case, to a marker.
func (m *missingSet) text(cell []byte) bool {
	if len(cell) == 0 {
		return true
	}
	if len(cell) > m.maxLen {
		return false
	}
	for _, t := range m.texts {
		if bytes.EqualFold(cell, t) {
			return true
		}
	}
	return false
}

// number reports whether v equals a marker number.
func (m *missingSet) number(v float64) bool {
	for _, n := range m.numbers {
		if v == n {
			return true
		}
	}
	return false
}

// windows1252 maps the bytes 0x80 to 0x9F of Windows-1252 to their
// characters; the five bytes it leaves undefined map to U+FFFD.
var windows1252 = [32]rune{
	'€', '\ufffd', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\ufffd', 'Ž', '\ufffd',
	'\ufffd', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\ufffd', 'ž', 'Ÿ',
}

// textValue returns cell as a string, decoding it as Windows-1252 (the
// superset of Latin-1 that Windows writes) when it is not valid UTF-8, so
// that such a file gives the characters its author meant.
func textValue(cell []byte) string {
	if utf8.Valid(cell) {
		return string(cell)
	}
	runes := make([]rune, len(cell))
	for i, c := range cell {
		runes[i] = rune(c)
		if c >= 0x80 && c < 0xa0 {
			runes[i] = windows1252[c-0x80]
		}
	}
	return string(runes)
}
