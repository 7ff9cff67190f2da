package sim

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Write saves every table in format f and every plot as SVG into dir,
// which it creates if needed, and renders the tables as text to w. It
// returns the paths written.
func (r Report) Write(dir string, f Format, w io.Writer) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("sim: create output folder: %w", err)
	}
	var paths []string
	tables := r.Tables
	if r.Perf != nil {
		tables = append(tables[:len(tables):len(tables)], r.Perf)
	}
	for _, t := range tables {
		path := filepath.Join(dir, t.Name+"."+string(f))
		if err := writeFile(path, func(out io.Writer) error { return t.Write(out, f) }); err != nil {
			return paths, err
		}
		paths = append(paths, path)
		if err := t.WriteText(w); err != nil {
			return paths, err
		}
	}
	for _, p := range r.Plots {
		path := filepath.Join(dir, p.Name+".svg")
		if err := p.draw(path); err != nil {
			return paths, err
		}
		paths = append(paths, path)
	}
	return paths, nil
}

// writeFile creates path and fills it with write.
func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("sim: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("sim: write %s: %w", path, err)
	}
	return nil
}
