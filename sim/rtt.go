package sim

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Limits on an RTT matrix file. The PlanetLab matrix has 490 hosts and is
// 1.6 MB; the limits leave room for larger measured matrices while keeping
// a wrong file from exhausting memory.
const (
	// MaxHosts is the largest matrix side ParseRTT accepts.
	MaxHosts = 4096
	// maxRTTLine is the longest line ParseRTT accepts, in bytes: MaxHosts
	// fields of up to 15 characters each.
	maxRTTLine = MaxHosts * 16
	// maxRTTMillis is the largest RTT accepted, one minute.
	maxRTTMillis = 60_000
)

// ErrRTTFormat reports an RTT matrix file that cannot be parsed.
var ErrRTTFormat = errors.New("sim: invalid RTT matrix")

// RTTMatrix is a square matrix of measured round-trip times between
// hosts, in milliseconds. Row i, column j is the RTT from host i to host
// j; the diagonal is zero.
type RTTMatrix struct {
	hosts int
	ms    []float32 // row-major, hosts×hosts
	// Missing counts the off-diagonal entries the file lacked. Each was
	// filled from the reverse direction (FromReverse) when that was
	// measured, or else with the median of all measured entries
	// (FromMedian).
	Missing, FromReverse, FromMedian int
}

// Hosts returns the number of hosts.
func (m *RTTMatrix) Hosts() int { return m.hosts }

// At returns the RTT from host i to host j in milliseconds.
func (m *RTTMatrix) At(i, j int) float64 { return float64(m.ms[i*m.hosts+j]) }

// LoadRTT reads an RTT matrix from a file; see ParseRTT.
func LoadRTT(path string) (*RTTMatrix, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("sim: open RTT matrix: %w", err)
	}
	defer f.Close()
	m, err := ParseRTT(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// ParseRTT reads a square matrix of RTTs in milliseconds, one row per
// line, fields separated by tabs or spaces. The first line fixes the
// number of hosts; every line must have that many fields.
//
// An off-diagonal field that is empty, "-", "NaN", zero or negative is a
// missing measurement. It is filled from the reverse direction when that
// was measured, or else with the median of the measured entries, and
// counted in Missing. Anything else that is not a number is an error
// naming its line and column. Diagonal fields are ignored and set to 0.
func ParseRTT(r io.Reader) (*RTTMatrix, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), maxRTTLine)

	var (
		m       *RTTMatrix
		missing []bool
		row     int
	)
	for sc.Scan() {
		fields := splitFields(sc.Text())
		if len(fields) == 0 {
			continue // a blank line, such as a trailing one
		}
		if m == nil {
			if len(fields) > MaxHosts {
				return nil, fmt.Errorf("%w: %d hosts, limit %d", ErrRTTFormat, len(fields), MaxHosts)
			}
			m = &RTTMatrix{hosts: len(fields), ms: make([]float32, len(fields)*len(fields))}
			missing = make([]bool, len(m.ms))
		}
		if row >= m.hosts {
			return nil, fmt.Errorf("%w: line %d: more rows than the %d columns of line 1", ErrRTTFormat, row+1, m.hosts)
		}
		if len(fields) != m.hosts {
			return nil, fmt.Errorf("%w: line %d has %d fields, want %d", ErrRTTFormat, row+1, len(fields), m.hosts)
		}
		if err := m.parseRow(row, fields, missing); err != nil {
			return nil, err
		}
		row++
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: line %d: %v", ErrRTTFormat, row+1, err)
	}
	if m == nil || row != m.hosts {
		hosts := 0
		if m != nil {
			hosts = m.hosts
		}
		return nil, fmt.Errorf("%w: %d rows for %d columns: the matrix must be square", ErrRTTFormat, row, hosts)
	}
	if m.hosts < 2 {
		return nil, fmt.Errorf("%w: 1 host; a matrix needs at least 2", ErrRTTFormat)
	}
	if err := m.fillMissing(missing); err != nil {
		return nil, err
	}
	return m, nil
}

// splitFields splits a line at tabs and spaces. Unlike strings.Fields it
// keeps empty fields between two tabs, which mark missing entries.
func splitFields(line string) []string {
	line = strings.TrimRight(line, "\r")
	if strings.TrimSpace(line) == "" {
		return nil
	}
	if strings.Contains(line, "\t") {
		return strings.Split(line, "\t")
	}
	return strings.Fields(line)
}

// parseRow stores the fields of row and marks its missing entries.
func (m *RTTMatrix) parseRow(row int, fields []string, missing []bool) error {
	for col, field := range fields {
		if col == row {
			continue
		}
		v, ok, err := parseRTTField(strings.TrimSpace(field))
		if err != nil {
			return fmt.Errorf("%w: line %d, column %d: %v", ErrRTTFormat, row+1, col+1, err)
		}
		if !ok {
			missing[row*m.hosts+col] = true
			continue
		}
		m.ms[row*m.hosts+col] = float32(v)
	}
	return nil
}

// parseRTTField parses one entry. It returns ok false for a missing
// measurement.
func parseRTTField(s string) (v float64, ok bool, err error) {
	if s == "" || s == "-" || strings.EqualFold(s, "nan") {
		return 0, false, nil
	}
	v, err = strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, false, fmt.Errorf("%q is not a number of milliseconds", s)
	}
	if math.IsNaN(v) || v <= 0 {
		return 0, false, nil
	}
	if v > maxRTTMillis || math.IsInf(v, 0) {
		return 0, false, fmt.Errorf("RTT %q ms exceeds the limit of %d ms", s, maxRTTMillis)
	}
	return v, true, nil
}

// fillMissing fills the missing entries from the reverse direction or
// with the median of the measured ones.
func (m *RTTMatrix) fillMissing(missing []bool) error {
	var measured []float32
	for i, v := range m.ms {
		if !missing[i] && i/m.hosts != i%m.hosts {
			measured = append(measured, v)
		}
	}
	if len(measured) == 0 {
		return fmt.Errorf("%w: no off-diagonal entry is a measurement", ErrRTTFormat)
	}
	slices.Sort(measured)
	median := measured[len(measured)/2]

	for i := range m.ms {
		if !missing[i] {
			continue
		}
		m.Missing++
		row, col := i/m.hosts, i%m.hosts
		if reverse := col*m.hosts + row; !missing[reverse] {
			m.ms[i] = m.ms[reverse]
			m.FromReverse++
			continue
		}
		m.ms[i] = median
		m.FromMedian++
	}
	return nil
}

// nearestRTT returns the smallest RTT from host i to any other host.
func (m *RTTMatrix) nearestRTT(i int) float64 {
	best := math.Inf(1)
	for j := range m.hosts {
		if j != i {
			best = min(best, m.At(i, j))
		}
	}
	return best
}

// medianRTT returns the median RTT from host i to the other hosts.
func (m *RTTMatrix) medianRTT(i int) float64 {
	row := make([]float64, 0, m.hosts-1)
	for j := range m.hosts {
		if j != i {
			row = append(row, m.At(i, j))
		}
	}
	slices.Sort(row)
	return row[len(row)/2]
}
