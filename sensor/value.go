package sensor

import (
	"fmt"
	"math"
	"strconv"
)

// Kind is the type of a Value.
type Kind uint8

const (
	// KindMissing marks a value the sensor did not deliver. It is the kind
	// of the zero Value.
	KindMissing Kind = iota
	// KindNumber marks a float64. Validate accepts only finite numbers.
	KindNumber
	// KindText marks a UTF-8 string of at most MaxTextLen bytes.
	KindText
)

func (k Kind) String() string {
	switch k {
	case KindMissing:
		return "missing"
	case KindNumber:
		return "number"
	case KindText:
		return "text"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Value is one field's value: a number, a text or missing. The zero Value
// is missing. Values are immutable and compare with Equal.
type Value struct {
	kind Kind
	num  float64
	text string
}

// Number returns a numeric value. NaN and ±Inf are accepted here but fail
// Validate, so an importer that meets them must decide between Missing and
// rejecting the row.
func Number(f float64) Value { return Value{kind: KindNumber, num: f} }

// Text returns a text value.
func Text(s string) Value { return Value{kind: KindText, text: s} }

// Missing returns the missing value, the same as the zero Value.
func Missing() Value { return Value{} }

// Kind returns the value's kind.
func (v Value) Kind() Kind { return v.kind }

// IsMissing reports whether the value is missing.
func (v Value) IsMissing() bool { return v.kind == KindMissing }

// Number returns the number and true, or 0 and false for another kind.
func (v Value) Number() (float64, bool) { return v.num, v.kind == KindNumber }

// Text returns the text and true, or "" and false for another kind.
func (v Value) Text() (string, bool) { return v.text, v.kind == KindText }

// Equal reports whether v and w have the same kind and content. Numbers
// compare with ==, so 0 equals -0 and NaN equals nothing.
func (v Value) Equal(w Value) bool {
	if v.kind != w.kind {
		return false
	}
	switch v.kind {
	case KindNumber:
		return v.num == w.num
	case KindText:
		return v.text == w.text
	}
	return true
}

// String formats a number in the shortest form that parses back to it, a
// text quoted as in Go, and a missing value as "missing".
func (v Value) String() string {
	switch v.kind {
	case KindNumber:
		return strconv.FormatFloat(v.num, 'g', -1, 64)
	case KindText:
		return strconv.Quote(v.text)
	}
	return "missing"
}

// validate checks the rules that a Value's constructor does not.
func (v Value) validate() error {
	switch v.kind {
	case KindMissing:
		return nil
	case KindNumber:
		if math.IsNaN(v.num) || math.IsInf(v.num, 0) {
			return fmt.Errorf("value %v is not finite: record a missing value with sensor.Missing() instead", v.num)
		}
		return nil
	case KindText:
		return checkText("text value", v.text, MaxTextLen, false)
	}
	return fmt.Errorf("value has unknown kind %d", v.kind)
}
