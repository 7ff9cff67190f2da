package sched

import "fmt"

// WorkerID names a worker, such as a node ID in hex.
type WorkerID string

// UnitID numbers the units of a job from 0.
type UnitID int

// Segment is a stored segment of readings, the smallest piece of input
// a unit can hold.
type Segment struct {
	// Key is the segment's storage key.
	Key string
	// Readings is the number of readings the segment holds.
	Readings int
	// Holders are the workers that store the segment, in order of
	// preference. A unit goes first to a worker that holds its data.
	Holders []WorkerID
}

// Unit is the work one worker does in one run: a run of whole segments.
type Unit struct {
	ID       UnitID
	Segments []Segment
	// Readings is the sum of the segments' readings.
	Readings int
	// Cluster is the location cell of the unit's data, or empty when
	// unknown. After the workers that hold its data, a unit goes to
	// workers of this cluster.
	Cluster string `cbor:",omitempty"`
}

// Split cuts a job's input into units along segment boundaries, keeping
// the segments' order. Each unit takes segments until the next one would
// bring it above maxReadings. A segment is never split, so one larger
// than maxReadings becomes a unit of its own.
func Split(segments []Segment, maxReadings int) ([]Unit, error) {
	if maxReadings < 1 {
		return nil, fmt.Errorf("%w: unit size %d readings, must be at least 1", ErrInvalid, maxReadings)
	}
	var units []Unit
	var cur Unit
	for i, s := range segments {
		if s.Readings < 0 {
			return nil, fmt.Errorf("%w: segment %d (%q) has %d readings", ErrInvalid, i, s.Key, s.Readings)
		}
		if len(cur.Segments) > 0 && cur.Readings+s.Readings > maxReadings {
			units = append(units, cur)
			cur = Unit{ID: UnitID(len(units))}
		}
		cur.Segments = append(cur.Segments, s)
		cur.Readings += s.Readings
	}
	if len(cur.Segments) > 0 {
		units = append(units, cur)
	}
	return units, nil
}

// heldBy reports whether w holds any of the unit's segments.
func (u *Unit) heldBy(w WorkerID) bool {
	for _, s := range u.Segments {
		for _, h := range s.Holders {
			if h == w {
				return true
			}
		}
	}
	return false
}
