package importer

import (
	"fmt"
	"slices"
)

// maxDistinct bounds the distinct values counted per sample column.
const maxDistinct = 1000

// sentinelCandidates are the numbers that datasets commonly write for "no
// value". The UCI air quality data uses -200.
var sentinelCandidates = []float64{-200, -999, -9999, -99999}

// columnStats summarizes one column of the sample's data rows.
type columnStats struct {
	cells, missing int
	numbers        int
	integers       int
	epochs         map[timeKind]int
	dateTimes      int
	dates          int
	clocks         int
	// maxFirst and maxSecond are the largest first and second numbers of
	// dates written with the year last, which settle the date order.
	maxFirst, maxSecond int
	distinct            map[string]bool
	// sentinels counts the cells equal to each sentinel candidate; low and
	// high bound the other numbers.
	sentinels map[float64]int
	low, high float64
	others    int
	example   string // the first non-missing cell, for messages
}

func (s *columnStats) values() int { return s.cells - s.missing }

// mostly reports whether n is at least 90% of the non-missing cells.
func (s *columnStats) mostly(n int) bool {
	return s.values() > 0 && n*10 >= s.values()*9
}

// epochKind returns the epoch unit that most values fit, or timeNone.
func (s *columnStats) epochKind() timeKind {
	for k, n := range s.epochs {
		if s.mostly(n) {
			return k
		}
	}
	return timeNone
}

// timeKind returns how the column's times are written, or timeNone.
func (s *columnStats) timeKind() timeKind {
	switch {
	case s.mostly(s.dateTimes):
		return timeDateTime
	case s.mostly(s.dates):
		return timeDate
	case s.mostly(s.clocks):
		return timeOfDay
	}
	return s.epochKind()
}

func (s *columnStats) fieldKind() fieldKind {
	switch {
	case s.values() == 0:
		return fieldAny
	case s.mostly(s.numbers):
		return fieldNumber
	}
	return fieldText
}

// collectStats classifies every cell of the sample's data rows.
func collectStats(rows [][][]byte, width int, decimal byte, missing *missingSet) []columnStats {
	stats := make([]columnStats, width)
	p := numberParser{decimal: decimal}
	for j := range stats {
		stats[j].epochs = map[timeKind]int{}
		stats[j].distinct = map[string]bool{}
		stats[j].sentinels = map[float64]int{}
	}
	for _, r := range rows {
		for j := 0; j < len(r) && j < width; j++ {
			stats[j].add(r[j], &p, missing)
		}
	}
	return stats
}

func (s *columnStats) add(cell []byte, p *numberParser, missing *missingSet) {
	s.cells++
	if missing.text(cell) {
		s.missing++
		return
	}
	if len(s.distinct) <= maxDistinct {
		s.distinct[string(cell)] = true
	}
	if s.example == "" {
		s.example = string(cell)
	}
	if v, integer, ok := p.parse(cell); ok {
		s.addNumber(cell, v, integer, missing)
		return
	}
	switch k := timeKindOf(cell); k {
	case timeDateTime:
		s.dateTimes++
	case timeDate:
		s.dates++
	case timeOfDay:
		s.clocks++
	}
	if d, _, ok := scanDate(cell); ok && !d.yearFirst {
		s.maxFirst = max(s.maxFirst, d.a)
		s.maxSecond = max(s.maxSecond, d.b)
	}
}

func (s *columnStats) addNumber(cell []byte, v float64, integer bool, missing *missingSet) {
	s.numbers++
	if integer {
		s.integers++
	}
	if e, ok := parseEpochNumber(cell); ok && !e.negative {
		if k := epochKind(e.whole); k != timeNone {
			s.epochs[k]++
		}
	}
	if slices.Contains(sentinelCandidates, v) {
		s.sentinels[v]++
		return
	}
	if missing.number(v) {
		return
	}
	if s.others == 0 || v < s.low {
		s.low = v
	}
	if s.others == 0 || v > s.high {
		s.high = v
	}
	s.others++
}

// timeKindOf returns the kind of time a whole cell holds, other than an
// epoch number, or timeNone.
func timeKindOf(cell []byte) timeKind {
	if _, _, rest, ok := scanDateTime(cell); ok {
		if _, ok := scanZone(rest, nil); ok {
			return timeDateTime
		}
	}
	if _, n, ok := scanDate(cell); ok && n == len(cell) {
		return timeDate
	}
	if _, n, ok := scanClock(cell); ok && n == len(cell) {
		return timeOfDay
	}
	return timeNone
}

// detectSentinels returns the candidates to read as missing. A candidate
// qualifies when it lies clearly below the other numbers of every numeric
// column where it appears. Clearly below means that the others are all
// non-negative, or that the candidate is below their minimum by more than
// their spread. A column made only of the candidate counts in favour. One
// column where the candidate fits among the other values vetoes it for the
// whole file, since it is then a real reading.
func detectSentinels(stats []columnStats, numeric []bool) []float64 {
	var found []float64
	for _, c := range sentinelCandidates {
		favour, against := 0, 0
		for j := range stats {
			s := &stats[j]
			if !numeric[j] || s.sentinels[c] == 0 {
				continue
			}
			switch {
			case s.others == 0:
				favour++
			case c < s.low && (s.low >= 0 || c <= s.low-(s.high-s.low)):
				favour++
			default:
				against++
			}
		}
		if favour > 0 && against == 0 {
			found = append(found, c)
		}
	}
	return found
}

// detectDateOrder settles the order of day and month from the largest
// numbers seen in each position.
func detectDateOrder(stats []columnStats, set DateOrder, rows int) (DateOrder, string) {
	if set != DateAuto {
		return set, ""
	}
	first, second := 0, 0
	for i := range stats {
		first = max(first, stats[i].maxFirst)
		second = max(second, stats[i].maxSecond)
	}
	switch {
	case first == 0 && second == 0:
		return DayFirst, ""
	case first > 12 && second <= 12:
		return DayFirst, ""
	case second > 12 && first <= 12:
		return MonthFirst, "dates are read month first, since a second number above 12 appears"
	case first > 12:
		return DayFirst, "dates have numbers above 12 in both the first and second place: reading day first, and rows that do not fit are rejected"
	}
	return DayFirst, fmt.Sprintf("dates are read day first, since no number above 12 appears in the first %d rows to tell: set Options.DateOrder if they are month first", rows)
}
