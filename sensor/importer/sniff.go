package importer

import (
	"bytes"
	"fmt"
)

// sampleLine is one line of the sample that detection reads, kept so that
// the reader can replay it afterwards.
type sampleLine struct {
	text   []byte
	number int
	ended  bool
	err    error // errLineTooLong, with text nil
}

// isBlank reports whether a line has nothing but spaces and tabs.
func isBlank(line []byte) bool {
	return len(bytes.Trim(line, " \t")) == 0
}

func isComment(line []byte, comment byte) bool {
	t := bytes.TrimLeft(line, " \t")
	return comment != 0 && len(t) > 0 && t[0] == comment
}

// hasControl returns the index of the first control byte in line other
// than tab, or -1. Carriage returns count, since a lone one inside a line
// means the file does not use "\n" line ends.
func hasControl(line []byte) int {
	for i, c := range line {
		if (c < 0x20 && c != '\t') || c == 0x7f {
			return i
		}
	}
	return -1
}

// Delimiters tried by detection, in order of preference when two fit the
// sample equally well.
var delimiterCandidates = []Delimiter{Tab, Semicolon, Comma, Pipe, Whitespace}

// detectDelimiter picks the delimiter that splits at least 90% of the lines
// into the same number of cells, two or more. Tab, semicolon and pipe come
// first, since they never appear inside numbers: among them the highest
// share wins, then the most cells, then that order. Otherwise comma and
// whitespace compete, and whitespace wins when both fit and every comma
// sits between two digits, as a decimal comma does in the ULB files.
func detectDelimiter(lines [][]byte, maxColumns int) (Delimiter, error) {
	type fit struct {
		share float64
		count int
	}
	fits := map[Delimiter]fit{}
	for _, d := range delimiterCandidates {
		if count, share := modalCount(lines, d, maxColumns); count >= 2 && share >= 0.9 {
			fits[d] = fit{share, count}
		}
	}
	best := Auto
	for _, d := range []Delimiter{Tab, Semicolon, Pipe} {
		f, ok := fits[d]
		if ok && (best == Auto || f.share > fits[best].share || (f.share == fits[best].share && f.count > fits[best].count)) {
			best = d
		}
	}
	_, comma := fits[Comma]
	_, space := fits[Whitespace]
	switch {
	case best != Auto:
		return best, nil
	case comma && space && commasAreDecimal(lines):
		return Whitespace, nil
	case comma:
		return Comma, nil
	case space:
		return Whitespace, nil
	}
	return Auto, fmt.Errorf("%w: no delimiter (tab, semicolon, comma, pipe or whitespace) splits 90%% of the first %d lines into the same number of cells, at least two: name the delimiter (yui import --delimiter); a file of JSON lines goes to the ingest API instead (POST /v1/ns/NAMESPACE/readings)", ErrLayout, len(lines))
}

// commasAreDecimal reports whether every comma in lines has a digit on
// each side.
func commasAreDecimal(lines [][]byte) bool {
	for _, line := range lines {
		for i, c := range line {
			if c == ',' && (i == 0 || i == len(line)-1 || !isDigit(line[i-1]) || !isDigit(line[i+1])) {
				return false
			}
		}
	}
	return true
}

// modalCount returns the most common number of cells per line under d, and
// the share of lines that fit it. With whitespace, a line also fits when
// joining digit groups ("1 000") can explain the difference. That is the
// case when it has up to maxMerges cells more than the mode and as many
// group pairs, or one cell fewer while most lines of the mode have a pair.
func modalCount(lines [][]byte, d Delimiter, maxColumns int) (int, float64) {
	if len(lines) == 0 {
		return 0, 0
	}
	s := splitter{delim: d, maxColumns: maxColumns}
	counts := map[int]int{}
	pairs := make([]int, len(lines))
	cells := make([]int, len(lines))
	for i, line := range lines {
		split, err := s.split(line)
		if err != nil {
			cells[i] = -1
			continue
		}
		cells[i] = len(split)
		counts[len(split)]++
		if d == Whitespace {
			pairs[i] = groupPairs(split)
		}
	}

	mode, n := 0, 0
	for c, k := range counts {
		if k > n || (k == n && c > mode) {
			mode, n = c, k
		}
	}

	modePairs := 0 // mode lines with at least one pair
	for i, c := range cells {
		if c == mode && pairs[i] > 0 {
			modePairs++
		}
	}

	fit := 0
	for i, c := range cells {
		switch {
		case c == mode:
			fit++
		case d != Whitespace || c < 0:
		case c > mode && c-mode <= maxMerges && pairs[i] >= c-mode:
			fit++
		case c < mode && mode-c == 1 && modePairs*2 >= counts[mode]:
			fit++
		}
	}
	return mode, float64(fit) / float64(len(lines))
}

// groupPairs counts the cells that could be the lead of a split number.
func groupPairs(cells [][]byte) int {
	n := 0
	for p := 0; p+1 < len(cells); p++ {
		if isGroupLead(cells[p]) && isGroupTail(cells[p+1], 0) {
			n++
		}
	}
	return n
}

// groupedColumns finds, in whitespace-separated rows, the columns whose
// numbers sometimes appear as two cells because an ASCII space separates
// their digit groups ("1 000"), and returns the number of columns once
// those are joined. It looks for two patterns. The first is rows one cell
// longer than most, with the extra cell at the same place in most of them.
// The second, when every row is split alike, is a column of one to three
// digits followed by a column of exactly three digits, at least one of
// which starts with 0 ("1 000", "1 012"). A real column of three-digit
// numbers rarely has leading zeros.
func groupedColumns(rows [][][]byte) (width int, grouped []bool) {
	counts := map[int]int{}
	for _, r := range rows {
		counts[len(r)]++
	}
	mode := 0
	for c, k := range counts {
		if k > counts[mode] || (k == counts[mode] && c > mode) {
			mode = c
		}
	}
	grouped = make([]bool, mode)
	tally, longer := map[int]int{}, 0
	for _, r := range rows {
		if len(r) != mode+1 {
			continue
		}
		longer++
		for p := 0; p+1 < len(r); p++ {
			if isGroupLead(r[p]) && isGroupTail(r[p+1], 0) {
				tally[p]++
			}
		}
	}
	found := false
	for p, n := range tally {
		if p < mode && n*2 > longer {
			grouped[p], found = true, true
		}
	}
	if found || longer > 0 {
		return mode, grouped
	}
	return splitGroups(rows, mode)
}

// splitGroups handles the case of groupedColumns where every row has its
// grouped numbers split.
func splitGroups(rows [][][]byte, mode int) (int, []bool) {
	var pairs []int
	for p := 0; p+1 < mode; p++ {
		if len(pairs) > 0 && pairs[len(pairs)-1] == p-1 {
			continue
		}
		matched, zeros, total := 0, 0, 0
		for _, r := range rows {
			if len(r) != mode {
				continue
			}
			total++
			if isGroupLead(r[p]) && isGroupTail(r[p+1], 0) {
				matched++
				if r[p+1][0] == '0' {
					zeros++
				}
			}
		}
		if total > 0 && matched*10 >= total*9 && zeros > 0 {
			pairs = append(pairs, p)
		}
	}
	width := mode - len(pairs)
	grouped := make([]bool, width)
	for i, p := range pairs {
		grouped[p-i] = true
	}
	return width, grouped
}

// looksLikeHeader reports whether first, the first row, names the columns
// of rows. It does when none of its cells is a number or time, and some
// column holds numbers or times below a text cell. When every column is
// text, it does when its cells are distinct and none recurs below it.
func looksLikeHeader(first [][]byte, rows [][][]byte, decimal byte) bool {
	nonEmpty := 0
	for _, c := range first {
		if len(c) == 0 {
			continue
		}
		nonEmpty++
		if isValueLike(c, decimal) {
			return false
		}
	}
	if nonEmpty == 0 {
		return false
	}
	if len(rows) == 0 {
		return true
	}
	for j, c := range first {
		if len(c) > 0 && columnIsValues(rows, j, decimal) {
			return true
		}
	}
	return distinctAndAbsent(first, rows)
}

// isValueLike reports whether a cell reads as a number or a time under
// either decimal separator.
func isValueLike(cell []byte, decimal byte) bool {
	for _, d := range []byte{decimal, '.', ','} {
		p := numberParser{decimal: d}
		if _, _, ok := p.parse(cell); ok {
			return true
		}
	}
	return timeKindOf(cell) != timeNone
}

// columnIsValues reports whether most non-empty cells of column j are
// numbers or times.
func columnIsValues(rows [][][]byte, j int, decimal byte) bool {
	values, cells := 0, 0
	for _, r := range rows {
		if j >= len(r) || len(r[j]) == 0 {
			continue
		}
		cells++
		if isValueLike(r[j], decimal) {
			values++
		}
	}
	return cells > 0 && values*2 > cells
}

func distinctAndAbsent(first [][]byte, rows [][][]byte) bool {
	seen := map[string]bool{}
	for _, c := range first {
		if len(c) == 0 || seen[string(c)] {
			return false
		}
		seen[string(c)] = true
	}
	for _, r := range rows {
		for j, c := range r {
			if j < len(first) && bytes.Equal(c, first[j]) {
				return false
			}
		}
	}
	return true
}

// detectDecimal decides between '.' and ',' from the numeric cells of the
// data rows. A comma-separated file uses '.'. Otherwise a cell such as
// "21,21" means a decimal comma, unless cells with a decimal point appear
// too. A cell such as "1,234" could be either, and means a decimal comma
// only in a semicolon-separated file, as European spreadsheets write.
func detectDecimal(rows [][][]byte, d Delimiter) (byte, string) {
	if d == Comma {
		return '.', ""
	}
	var commaDecimal, commaAmbiguous, dotDecimal int
	for _, r := range rows {
		for _, c := range r {
			switch decimalShape(c) {
			case ',':
				commaDecimal++
			case 'g':
				commaAmbiguous++
			case '.':
				dotDecimal++
			}
		}
	}
	switch {
	case commaDecimal > 0 && dotDecimal == 0:
		return ',', "numbers use a decimal comma"
	case commaDecimal > 0:
		return '.', fmt.Sprintf("%d cells use a decimal comma and %d a decimal point: reading the point as decimal; set Options.Decimal to change it", commaDecimal, dotDecimal)
	case commaAmbiguous > 0 && dotDecimal == 0 && d == Semicolon:
		return ',', "numbers such as 1,234 are read with a decimal comma, as usual in semicolon-separated files"
	}
	return '.', ""
}

// decimalShape classifies a cell of the form [sign]digits?sep digits:
// ',' for a decimal comma, 'g' for a comma that may group thousands
// ("1,234"), '.' for a decimal point, 0 for anything else.
func decimalShape(c []byte) byte {
	if len(c) > 0 && (c[0] == '-' || c[0] == '+') {
		c = c[1:]
	}
	sep := bytes.IndexAny(c, ".,")
	if sep < 0 || !allDigits(c[:sep]) {
		return 0
	}
	frac := c[sep+1:]
	if e := bytes.IndexAny(frac, "eE"); e >= 0 && c[sep] == '.' {
		frac = frac[:e]
	}
	if len(frac) == 0 || !allDigits(frac) || len(c[:sep])+len(frac) == 0 {
		return 0
	}
	if c[sep] == '.' {
		return '.'
	}
	if len(frac) == 3 && sep >= 1 && sep <= 3 && c[0] != '0' {
		return 'g'
	}
	return ','
}
