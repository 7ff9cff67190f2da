package importer

import (
	"errors"
	"fmt"
)

var (
	errQuote   = errors.New("quoted cell has no closing quote, or text follows its closing quote")
	errColumns = errors.New("too many cells")
)

// splitter splits lines into cells. The cells alias the line or the
// splitter's scratch buffer and are valid until the next split.
type splitter struct {
	delim      Delimiter
	maxColumns int
	cells      [][]byte
	scratch    []byte
}

// split returns the cells of line, each trimmed of surrounding spaces. With
// a character delimiter, a cell may be quoted in double quotes, with ""
// standing for one quote inside, as in RFC 4180, but a quoted cell cannot
// span lines.
func (s *splitter) split(line []byte) ([][]byte, error) {
	s.cells = s.cells[:0]
	s.scratch = s.scratch[:0]
	if s.delim == Whitespace {
		return s.splitWhitespace(line)
	}
	c := s.delim.char()
	i := 0
	for {
		cell, next, err := s.cell(line, i, c)
		if err != nil {
			return nil, err
		}
		if len(s.cells) == s.maxColumns {
			return nil, fmt.Errorf("%w: more than %d", errColumns, s.maxColumns)
		}
		s.cells = append(s.cells, cell)
		if next >= len(line) {
			return s.cells, nil
		}
		i = next + 1 // past the delimiter
		if i == len(line) {
			// A delimiter at the end of the line opens one last empty cell.
			if len(s.cells) == s.maxColumns {
				return nil, fmt.Errorf("%w: more than %d", errColumns, s.maxColumns)
			}
			s.cells = append(s.cells, nil)
			return s.cells, nil
		}
	}
}

// cell reads the cell starting at line[i] and returns it with the index of
// the delimiter that ends it, or len(line).
func (s *splitter) cell(line []byte, i int, delim byte) ([]byte, int, error) {
	j := skipSpaces(line, i, delim)
	if j == len(line) || line[j] != '"' {
		end := j
		for end < len(line) && line[end] != delim {
			end++
		}
		return trimRight(line[j:end], delim), end, nil
	}

	start := len(s.scratch)
	k := j + 1
	for {
		q := indexQuote(line, k)
		if q < 0 {
			return nil, 0, errQuote
		}
		s.scratch = append(s.scratch, line[k:q]...)
		k = q + 1
		if k < len(line) && line[k] == '"' {
			s.scratch = append(s.scratch, '"')
			k++
			continue
		}
		break
	}
	k = skipSpaces(line, k, delim)
	if k < len(line) && line[k] != delim {
		return nil, 0, errQuote
	}
	return s.scratch[start:len(s.scratch):len(s.scratch)], k, nil
}

func indexQuote(line []byte, from int) int {
	for i := from; i < len(line); i++ {
		if line[i] == '"' {
			return i
		}
	}
	return -1
}

// skipSpaces skips spaces, and tabs unless the delimiter is a tab.
func skipSpaces(line []byte, i int, delim byte) int {
	for i < len(line) && (line[i] == ' ' || (line[i] == '\t' && delim != '\t')) {
		i++
	}
	return i
}

func trimRight(cell []byte, delim byte) []byte {
	n := len(cell)
	for n > 0 && (cell[n-1] == ' ' || (cell[n-1] == '\t' && delim != '\t')) {
		n--
	}
	return cell[:n]
}

// splitWhitespace splits on runs of spaces and tabs. Other space characters,
// such as the no-break space, stay inside cells because the ULB files use
// one to group the digits of numbers.
func (s *splitter) splitWhitespace(line []byte) ([][]byte, error) {
	i := 0
	for {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		if i == len(line) {
			return s.cells, nil
		}
		j := i
		for j < len(line) && line[j] != ' ' && line[j] != '\t' {
			j++
		}
		if len(s.cells) == s.maxColumns {
			return nil, fmt.Errorf("%w: more than %d", errColumns, s.maxColumns)
		}
		s.cells = append(s.cells, line[i:j])
		i = j
	}
}

// isGroupLead reports whether cell can be the first group of a number
// written with digit groups: an optional minus and 1 to 3 digits, not
// starting with 0.
func isGroupLead(cell []byte) bool {
	if len(cell) > 0 && cell[0] == '-' {
		cell = cell[1:]
	}
	return len(cell) >= 1 && len(cell) <= 3 && cell[0] != '0' && allDigits(cell)
}

// isGroupTail reports whether cell can follow a group lead: exactly 3
// digits, optionally followed by a decimal separator and digits.
func isGroupTail(cell []byte, decimal byte) bool {
	if len(cell) < 3 || !allDigits(cell[:3]) {
		return false
	}
	rest := cell[3:]
	return len(rest) == 0 || (len(rest) >= 2 && rest[0] == decimal && allDigits(rest[1:]))
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Bounds on the search of mergeGroups, which tries every combination.
const (
	maxMerges         = 3
	maxMergeCandidate = 16
)

// mergeGroups rejoins numbers that a whitespace split broke at an ASCII
// space used as a digit group separator, such as "1 000", until cells has
// want entries. It merges only a group lead followed by a group tail. Among
// the combinations of merges that reach want cells, it prefers those that
// merge only into columns seen with grouped numbers, then only into
// integer columns, then only tails with a leading zero (as in "1 000"). If
// no single combination remains, it reports false.
func mergeGroups(cells [][]byte, want int, decimal byte, grouped, integer []bool) ([][]byte, bool) {
	k := len(cells) - want
	if k <= 0 || k > maxMerges {
		return cells, k == 0
	}
	var candidates []int
	for i := 0; i+1 < len(cells); i++ {
		if isGroupLead(cells[i]) && isGroupTail(cells[i+1], decimal) {
			candidates = append(candidates, i)
		}
	}
	if len(candidates) < k || len(candidates) > maxMergeCandidate {
		return cells, false
	}

	combos := combinations(candidates, k)
	filters := []func(at, column int) bool{
		func(_, column int) bool { return column < len(grouped) && grouped[column] },
		func(_, column int) bool { return column < len(integer) && integer[column] },
		func(at, _ int) bool { return cells[at+1][0] == '0' },
	}
	for _, keep := range filters {
		if len(combos) <= 1 {
			break
		}
		if narrowed := filterCombos(combos, keep); len(narrowed) > 0 {
			combos = narrowed
		}
	}
	if len(combos) != 1 {
		return cells, false
	}

	// Merge from the right so the indexes still to merge stay put.
	chosen := combos[0]
	for i := len(chosen) - 1; i >= 0; i-- {
		at := chosen[i]
		merged := make([]byte, 0, len(cells[at])+len(cells[at+1]))
		merged = append(merged, cells[at]...)
		merged = append(merged, cells[at+1]...)
		cells[at] = merged
		cells = append(cells[:at+1], cells[at+2:]...)
	}
	return cells, true
}

// combinations returns every choice of k candidates, in increasing order,
// no two of them adjacent, since a cell cannot be a lead and a tail at once.
func combinations(candidates []int, k int) [][]int {
	var out [][]int
	var pick func(from int, chosen []int)
	pick = func(from int, chosen []int) {
		if len(chosen) == k {
			out = append(out, append([]int(nil), chosen...))
			return
		}
		for i := from; i < len(candidates); i++ {
			if n := len(chosen); n > 0 && candidates[i] <= chosen[n-1]+1 {
				continue
			}
			pick(i+1, append(chosen, candidates[i]))
		}
	}
	pick(0, nil)
	return out
}

// filterCombos keeps the combinations whose every merge passes keep. The
// column of a merge is its cell index less the merges before it.
func filterCombos(combos [][]int, keep func(at, column int) bool) [][]int {
	var out [][]int
	for _, combo := range combos {
		ok := true
		for j, at := range combo {
			ok = ok && keep(at, at-j)
		}
		if ok {
			out = append(out, combo)
		}
	}
	return out
}
