// Package guest is the side of the job sandbox's ABI that runs inside a
// WebAssembly module. A map or filter step written in Go imports it,
// is built with GOOS=wasip1 GOARCH=wasm, and calls Run from main.
//
// The ABI is JSON lines. The host writes one Reading per line to the
// module's standard input and closes it. The module writes the readings
// it keeps or produces to standard output, one per line, and exits with
// status 0. Any other exit status fails the unit; the module's standard
// error, cut to a few KiB, becomes part of the failure reason.
//
// The package uses only the standard library, so that it adds little to
// a module's size and builds for any GOOS.
package guest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// MaxLineBytes is the longest line either side of the ABI accepts,
// newline excluded. A reading within the sensor package's limits (256
// fields of at most 256 bytes each) encodes to well under this.
const MaxLineBytes = 1 << 20

// Reading is one sensor reading as it crosses the ABI.
type Reading struct {
	// Source is the id of the sensor that produced the reading.
	Source string `json:"source"`
	// Time is the reading's time in RFC 3339 with nanoseconds, in UTC.
	Time string `json:"time"`
	// Fields are the reading's values in order.
	Fields []Field `json:"fields"`
	// Location is the sensor's position, or nil when unknown.
	Location *Location `json:"location,omitempty"`
}

// Field is one named value. Value is a JSON number, a JSON string, or
// null for a missing value.
type Field struct {
	Name  string `json:"name"`
	Value any    `json:"value"`
}

// Location is a position given either as Lat and Lon, in degrees of
// WGS 84, or as X and Y, in metres on a site's plan.
type Location struct {
	Lat *float64 `json:"lat,omitempty"`
	Lon *float64 `json:"lon,omitempty"`
	X   *float64 `json:"x,omitempty"`
	Y   *float64 `json:"y,omitempty"`
}

// Number returns the value of the numeric field called name and whether
// the reading has one.
func (r *Reading) Number(name string) (float64, bool) {
	for _, f := range r.Fields {
		if f.Name == name {
			v, ok := f.Value.(float64)
			return v, ok
		}
	}
	return 0, false
}

// SetNumber sets the field called name to v, appending the field if the
// reading has none of that name.
func (r *Reading) SetNumber(name string, v float64) {
	for i := range r.Fields {
		if r.Fields[i].Name == name {
			r.Fields[i].Value = v
			return
		}
	}
	r.Fields = append(r.Fields, Field{Name: name, Value: v})
}

// Step maps one input reading to the readings to output: none drops it,
// one keeps or replaces it, several expand it. An error fails the unit.
type Step func(Reading) ([]Reading, error)

// Run applies step to every reading on standard input and writes the
// results to standard output. On error it writes the error to standard
// error and exits with status 1.
func Run(step Step) {
	if err := Process(os.Stdin, os.Stdout, step); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// Process applies step to every reading read from in and writes the
// results to out. It is Run without the process around it.
func Process(in io.Reader, out io.Writer, step Step) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), MaxLineBytes)
	w := bufio.NewWriter(out)
	enc := json.NewEncoder(w)
	for line := 1; sc.Scan(); line++ {
		var r Reading
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return fmt.Errorf("guest: input line %d: %w", line, err)
		}
		results, err := step(r)
		if err != nil {
			return fmt.Errorf("guest: reading %d of %s: %w", line, r.Source, err)
		}
		for i := range results {
			if err := enc.Encode(&results[i]); err != nil {
				return fmt.Errorf("guest: write output: %w", err)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("guest: read input: %w", err)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("guest: write output: %w", err)
	}
	return nil
}
