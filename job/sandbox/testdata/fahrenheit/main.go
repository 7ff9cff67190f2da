// Command fahrenheit is an example map step for the job sandbox. It
// converts the "temperature" field from degrees Celsius to degrees
// Fahrenheit, adds it as "temperature_f", and drops readings that have
// no numeric temperature or one above the threshold given as its first
// argument, in degrees Fahrenheit (no threshold when absent).
package main

import (
	"fmt"
	"os"
	"strconv"

	"github.com/yuinet/yui/job/sandbox/guest"
)

func main() {
	limit, err := threshold(os.Args)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	guest.Run(func(r guest.Reading) ([]guest.Reading, error) {
		c, ok := r.Number("temperature")
		if !ok {
			return nil, nil
		}
		f := c*9/5 + 32
		if f > limit {
			return nil, nil
		}
		r.SetNumber("temperature_f", f)
		return []guest.Reading{r}, nil
	})
}

func threshold(args []string) (float64, error) {
	if len(args) < 2 {
		return 1e308, nil
	}
	f, err := strconv.ParseFloat(args[1], 64)
	if err != nil {
		return 0, fmt.Errorf("fahrenheit: threshold %q is not a number", args[1])
	}
	return f, nil
}
