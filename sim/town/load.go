package town

import (
	"fmt"
	"os"
)

// LoadULB parses the ULB neighbour file at path.
func LoadULB(path string) (*ULBData, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("town: %w", err)
	}
	defer f.Close()
	d, err := ParseULB(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}
