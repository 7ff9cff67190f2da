package he

import "github.com/yuinet/yui/sensor"

// FieldValues returns the numeric values of the field called name, in
// order, skipping readings where it is missing, text or absent. Those
// skipped are left out of the count as well as the sum, so the mean is
// over the readings that have a number.
func FieldValues(readings []sensor.Reading, name string) []float64 {
	var values []float64
	for i := range readings {
		v, _ := readings[i].Get(name)
		if f, ok := v.Number(); ok {
			values = append(values, f)
		}
	}
	return values
}
