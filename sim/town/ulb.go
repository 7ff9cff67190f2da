package town

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Limits of the ULB neighbour file parser. N1.txt has 127,903 lines of at
// most 35 bytes and 19 motes. The limits leave room for the longer files
// of the same deployment and bound the memory that bad input can take.
const (
	maxULBLineBytes = 256
	maxULBLines     = 10_000_000
	maxULBMotes     = 1024
	maxULBMinute    = 10_000_000
)

// rssiOffsetDBm converts a CC2420 RSSI register value to dBm: the radio's
// datasheet gives RSSI = RSSI_VAL + RSSI_OFFSET with RSSI_OFFSET about
// -45 dBm.
const rssiOffsetDBm = -45

// ErrInvalidULB reports a line of a ULB neighbour file that does not
// parse.
var ErrInvalidULB = errors.New("town: invalid ULB neighbour line")

// ULBLink is one direction of a measured link: Receiver listed Sender in
// its neighbour table, with the mean LQI and RSSI it measured.
type ULBLink struct {
	Sender, Receiver int // mote ids
	Samples          int // lines that reported the link
	// Minutes is the number of minutes whose neighbour report from
	// Receiver listed Sender.
	Minutes int
	// Presence is Minutes over the minutes in which Receiver sent any
	// neighbour report: the share of the time the link was in its table.
	Presence float64
	LQI      float64 // mean, after the ReadMe transformation
	RSSI     float64 // mean, dBm
}

// ULBData is the parsed content of a ULB neighbour file.
type ULBData struct {
	Motes []int     // ids, ascending
	Links []ULBLink // ordered by sender, then receiver
	Lines int
}

// ulbLinkSum accumulates the samples of one directed link.
type ulbLinkSum struct {
	samples   int
	lqi, rssi float64
	minutes   map[int]struct{}
}

// ParseULB reads a neighbour file of the ULB library deployment, such as
// N1.txt. Each line holds seven integers: arrival time (ms), two counters,
// the reporting mote, the neighbour it measured, the raw LQI and the raw
// RSSI. The deployment's ReadMe.txt calls the second column the sequence
// number and the third the packet number. In N1.txt, however, the second
// column counts 0 to 8 within each minute and the third counts the
// minutes, so the parser takes the third as the minute.
func ParseULB(r io.Reader) (*ULBData, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, maxULBLineBytes), maxULBLineBytes)
	sums := map[[2]int]*ulbLinkSum{}
	reportMinutes := map[int]map[int]struct{}{}
	motes := map[int]bool{}

	lines := 0
	for sc.Scan() {
		lines++
		if lines > maxULBLines {
			return nil, fmt.Errorf("%w: more than %d lines; split the file", ErrInvalidULB, maxULBLines)
		}
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		m, err := parseULBLine(text)
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %w", ErrInvalidULB, lines, err)
		}
		for _, id := range []int{m.reporter, m.neighbour} {
			if !motes[id] && len(motes) == maxULBMotes {
				return nil, fmt.Errorf("%w: line %d: more than %d motes", ErrInvalidULB, lines, maxULBMotes)
			}
			motes[id] = true
		}
		addULBSample(sums, reportMinutes, m)
	}
	if err := sc.Err(); errors.Is(err, bufio.ErrTooLong) {
		return nil, fmt.Errorf("%w: line %d: longer than %d bytes", ErrInvalidULB, lines+1, maxULBLineBytes)
	} else if err != nil {
		return nil, fmt.Errorf("%w: after line %d: %w", ErrInvalidULB, lines, err)
	}
	return collectULB(sums, reportMinutes, motes, lines), nil
}

// ulbSample is one parsed line.
type ulbSample struct {
	minute, reporter, neighbour int
	lqi, rssi                   float64
}

func parseULBLine(text string) (ulbSample, error) {
	fields := strings.Fields(text)
	if len(fields) != 7 {
		return ulbSample{}, fmt.Errorf("%d fields, expected 7", len(fields))
	}
	limits := [7]int64{math.MaxInt64, 255, maxULBMinute, 65535, 65535, 255, 255}
	var v [7]int64
	for k, f := range fields {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil || n < 0 || n > limits[k] {
			return ulbSample{}, fmt.Errorf("field %d %q is not an integer from 0 to %d", k+1, f, limits[k])
		}
		v[k] = n
	}
	if v[3] == v[4] {
		return ulbSample{}, fmt.Errorf("mote %d reports itself as a neighbour", v[3])
	}
	return ulbSample{
		minute: int(v[2]), reporter: int(v[3]), neighbour: int(v[4]),
		lqi: ulbLQI(int(v[5])), rssi: float64(int8(uint8(v[6]))) + rssiOffsetDBm,
	}, nil
}

// ulbLQI applies the transformation of the deployment's ReadMe.txt to a
// raw LQI byte.
func ulbLQI(raw int) float64 {
	if raw > 128 {
		return float64(383 - raw)
	}
	return float64(128 - raw)
}

func addULBSample(sums map[[2]int]*ulbLinkSum, reportMinutes map[int]map[int]struct{}, m ulbSample) {
	// The reporter heard the neighbour, so the link runs from the
	// neighbour (sender) to the reporter (receiver).
	key := [2]int{m.neighbour, m.reporter}
	s := sums[key]
	if s == nil {
		s = &ulbLinkSum{minutes: map[int]struct{}{}}
		sums[key] = s
	}
	s.samples++
	s.lqi += m.lqi
	s.rssi += m.rssi
	s.minutes[m.minute] = struct{}{}

	if reportMinutes[m.reporter] == nil {
		reportMinutes[m.reporter] = map[int]struct{}{}
	}
	reportMinutes[m.reporter][m.minute] = struct{}{}
}

func collectULB(sums map[[2]int]*ulbLinkSum, reportMinutes map[int]map[int]struct{}, motes map[int]bool, lines int) *ULBData {
	d := &ULBData{Lines: lines}
	for id := range motes {
		d.Motes = append(d.Motes, id)
	}
	sort.Ints(d.Motes)
	for key, s := range sums {
		d.Links = append(d.Links, ULBLink{
			Sender: key[0], Receiver: key[1], Samples: s.samples,
			Minutes:  len(s.minutes),
			Presence: float64(len(s.minutes)) / float64(len(reportMinutes[key[1]])),
			LQI:      s.lqi / float64(s.samples),
			RSSI:     s.rssi / float64(s.samples),
		})
	}
	sort.Slice(d.Links, func(i, j int) bool {
		a, b := d.Links[i], d.Links[j]
		if a.Sender != b.Sender {
			return a.Sender < b.Sender
		}
		return a.Receiver < b.Receiver
	})
	return d
}

// Graph builds the mesh of the measured motes: one relay per mote and one
// link per measured direction, whose delivery probability the fit derives
// from its LQI.
func (d *ULBData) Graph(fit Fit) *Graph {
	index := make(map[int]int32, len(d.Motes))
	g := &Graph{Nodes: make([]Node, len(d.Motes)), Links: make([][]Link, len(d.Motes))}
	for k, id := range d.Motes {
		index[id] = int32(k)
		g.Nodes[k] = Node{Name: strconv.Itoa(id)}
	}
	for _, l := range d.Links {
		s := index[l.Sender]
		g.Links[s] = append(g.Links[s], Link{
			Receiver: index[l.Receiver], RSSI: l.RSSI, LQI: l.LQI,
			Delivery: fit.Delivery(l.LQI),
		})
	}
	return g
}
