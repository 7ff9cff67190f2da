package he

import "fmt"

// Ciphertexts sealed at ingest use a slot layout fixed before any job
// exists. A segment holds one sensor's readings of one UTC hour, and its
// numeric fields (sorted by name) give a block of BlockWidth slots: the
// reading count, then each field's sum and value count. A page of
// consecutive hours shares one ciphertext layout, each hour in its own
// block, so the ciphertexts of one page and one field list add slot by
// slot with every hour kept apart, and no rotation is needed.

// BlockWidth returns the slots one hour takes for a segment with the
// given number of numeric fields: 1 + 2 × fields.
func BlockWidth(fields int) int { return 1 + 2*fields }

// HoursPerPage returns how many hours one ciphertext of the given slot
// count holds for a segment with the given number of numeric fields, or
// 0 when not even one block fits.
func HoursPerPage(slots, fields int) int {
	if fields < 0 || slots < 1 {
		return 0
	}
	return slots / BlockWidth(fields)
}

// PageOf returns the page of an hour (hours since the Unix epoch) and the
// first slot of its block, for pages of perPage hours and blocks of width
// slots. It rounds towards minus infinity, so hours before 1970 work too.
func PageOf(hour int64, perPage, width int) (page int64, offset int) {
	h := int64(perPage)
	page = hour / h
	if hour%h != 0 && hour < 0 {
		page--
	}
	return page, int(hour-page*h) * width
}

// HourOf returns the hour of block block on page page, the inverse of
// PageOf.
func HourOf(page int64, block, perPage int) int64 {
	return page*int64(perPage) + int64(block)
}

// SegmentSums are one segment's fixed-point sums, ready to be placed in
// its page's slots.
type SegmentSums struct {
	// Readings is how many readings the segment holds.
	Readings int64
	// Sums and Counts are, per field in the header's order, the sum of
	// the fixed-point values and how many readings have a number there.
	Sums, Counts []int64
}

// SegmentSlots returns the slot vector of one segment of hour hour with
// fields numeric fields: zeros but for the hour's block in its page.
func (p Params) SegmentSlots(hour int64, s SegmentSums) ([]int64, error) {
	if len(s.Sums) != len(s.Counts) {
		return nil, fmt.Errorf("%w: %d sums and %d counts", ErrInvalidPlan, len(s.Sums), len(s.Counts))
	}
	perPage := HoursPerPage(p.Slots(), len(s.Sums))
	if perPage == 0 {
		return nil, fmt.Errorf("%w: %d fields need %d slots per hour, a ciphertext has %d",
			ErrInvalidPlan, len(s.Sums), BlockWidth(len(s.Sums)), p.Slots())
	}
	_, off := PageOf(hour, perPage, BlockWidth(len(s.Sums)))
	slots := make([]int64, off+BlockWidth(len(s.Sums)))
	slots[off] = s.Readings
	for i := range s.Sums {
		slots[off+1+2*i] = s.Sums[i]
		slots[off+2+2*i] = s.Counts[i]
	}
	return slots, nil
}

// HourSums are one hour's sums read back from a decrypted page.
type HourSums struct {
	Hour int64
	SegmentSums
}

// PageHours returns the hours of a decrypted page of a field list of
// fields names whose reading count is not zero. A block with no
// readings but a non-zero sum or count fails with ErrCorrupt, and so
// does a negative count or a field count above the reading count.
func PageHours(slots []int64, page int64, fields int) ([]HourSums, error) {
	perPage := HoursPerPage(len(slots), fields)
	width := BlockWidth(fields)
	var out []HourSums
	for b := range perPage {
		block := slots[b*width : (b+1)*width]
		hour := HourOf(page, b, perPage)
		if block[0] < 0 {
			return nil, fmt.Errorf("%w: hour %d counts %d readings", ErrCorrupt, hour, block[0])
		}
		h := HourSums{Hour: hour, SegmentSums: SegmentSums{Readings: block[0],
			Sums: make([]int64, fields), Counts: make([]int64, fields)}}
		empty := block[0] == 0
		for i := range fields {
			h.Sums[i], h.Counts[i] = block[1+2*i], block[2+2*i]
			if h.Counts[i] < 0 || h.Counts[i] > block[0] || (h.Counts[i] == 0 && h.Sums[i] != 0) {
				return nil, fmt.Errorf("%w: hour %d field %d sums to %d over %d values of %d readings",
					ErrCorrupt, hour, i, h.Sums[i], h.Counts[i], block[0])
			}
		}
		if !empty {
			out = append(out, h)
		}
	}
	for _, x := range slots[perPage*width:] {
		if x != 0 {
			return nil, fmt.Errorf("%w: slot beyond the page's %d blocks is %d, not 0", ErrCorrupt, perPage, x)
		}
	}
	return out, nil
}
