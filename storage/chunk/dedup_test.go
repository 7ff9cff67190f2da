package chunk

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestDedupCounts(t *testing.T) {
	value := randomBytes(10, 100_000)
	d, err := NewDedup(Params{Kind: Fixed, Size: 4096})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := d.Add(bytes.NewReader(value)); err != nil {
			t.Fatal(err)
		}
	}

	got := d.Stats()
	want := DedupStats{Values: 2, Chunks: 50, UniqueChunks: 25, TotalBytes: 200_000, UniqueBytes: 100_000}
	if got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
	if got.Ratio() != 2 {
		t.Errorf("Ratio = %v, want 2", got.Ratio())
	}
	if r := (DedupStats{}).Ratio(); r != 1 {
		t.Errorf("Ratio of nothing = %v, want 1", r)
	}
}

func TestMeasureFilesMissing(t *testing.T) {
	_, err := MeasureFiles(DefaultParams(Fixed), filepath.Join(t.TempDir(), "absent"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("MeasureFiles(absent file) = %v, want os.ErrNotExist", err)
	}
}

// sharedDataDir returns the project's shared data folder, ../shared/data
// from the repository root (the folder holding go.mod), or skips the test.
func sharedDataDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("no go.mod above the package folder; cannot locate ../shared/data")
		}
		dir = parent
	}
	data := filepath.Join(dir, "..", "shared", "data")
	if _, err := os.Stat(data); err != nil {
		t.Skipf("shared data folder missing: %v", err)
	}
	return data
}

// sensorFiles returns the shared sensor data files with their contents.
func sensorFiles(t testing.TB) (paths []string, contents [][]byte) {
	t.Helper()
	pattern := filepath.Join(sharedDataDir(t), "sensors", "*", "*")
	matches, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range matches {
		if filepath.Base(path) == "ReadMe.txt" {
			continue // the data set's description, not sensor data
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path)
		contents = append(contents, b)
	}
	if len(paths) == 0 {
		t.Skipf("no sensor files match %s", pattern)
	}
	return paths, contents
}

// dedupScenarios returns, for each way a namespace could come to hold the
// sensor files, the extra values it stores beside the files themselves.
func dedupScenarios(t testing.TB, contents [][]byte) []struct {
	name  string
	extra [][]byte
} {
	// A later copy of each file with one line inserted at the start, as
	// when a header row is added or a late reading is sorted in.
	var edited [][]byte
	for _, c := range contents {
		edited = append(edited, append([]byte("1163438000000 1 0 20,00 2,80 50,00 21,00 1 1\n"), c...))
	}

	// The first half of each file stored as its own value, as when a
	// growing log is uploaded once midway and again when complete.
	var halves [][]byte
	for _, c := range contents {
		halves = append(halves, c[:len(c)/2])
	}

	return []struct {
		name  string
		extra [][]byte
	}{
		{"files as they are", nil},
		{"files + one merged export", [][]byte{bytes.Join(contents, nil)}},
		{"files + edited copies", edited},
		{"files + half-grown copies", halves},
	}
}

var dedupParams = []Params{
	{Kind: Fixed, Size: 4 << 10},
	{Kind: Fixed, Size: 8 << 10},
	{Kind: Fixed, Size: 16 << 10},
	DefaultParams(Fixed),
	{Kind: CDC, Min: 1 << 10, Avg: 4 << 10, Max: 16 << 10},
	{Kind: CDC, Min: 2 << 10, Avg: 8 << 10, Max: 32 << 10},
	{Kind: CDC, Min: 4 << 10, Avg: 16 << 10, Max: 64 << 10},
	DefaultParams(CDC),
}

func describe(p Params) string {
	if p.Kind == Fixed {
		return fmt.Sprintf("fixed %d KiB", p.Size>>10)
	}
	return fmt.Sprintf("cdc %d/%d/%d KiB", p.Min>>10, p.Avg>>10, p.Max>>10)
}

// TestDedupSharedData reports how much fixed and content-defined chunking
// save on the shared sensor files, alone and beside the kinds of related
// values a namespace accumulates.
func TestDedupSharedData(t *testing.T) {
	paths, contents := sensorFiles(t)
	var fileBytes int64
	for _, c := range contents {
		fileBytes += int64(len(c))
	}

	for _, p := range dedupParams {
		stats, err := MeasureFiles(p, paths...)
		if err != nil {
			t.Fatal(err)
		}
		if stats.TotalBytes != fileBytes || stats.Values != len(paths) {
			t.Errorf("%s: counted %d values, %d bytes; want %d, %d",
				describe(p), stats.Values, stats.TotalBytes, len(paths), fileBytes)
		}
	}

	ratios := make(map[string]float64)
	for _, sc := range dedupScenarios(t, contents) {
		t.Logf("%s (%d files, %d bytes):", sc.name, len(paths), fileBytes)
		for _, p := range dedupParams {
			s := measureValues(t, p, append(contents[:len(contents):len(contents)], sc.extra...))
			t.Logf("  %-20s %6d chunks %6d unique %9d bytes %9d unique  ratio %.3f",
				describe(p), s.Chunks, s.UniqueChunks, s.TotalBytes, s.UniqueBytes, s.Ratio())
			ratios[sc.name+"/"+describe(p)] = s.Ratio()
		}
	}

	// An insertion shifts every fixed chunk after it, while CDC finds its
	// old boundaries again; at 8 KiB the copies should cost little space.
	fixed := ratios["files + edited copies/fixed 8 KiB"]
	cdc := ratios["files + edited copies/cdc 2/8/32 KiB"]
	if cdc < 1.8 || cdc <= fixed {
		t.Errorf("edited copies: cdc 8 KiB ratio %.3f, fixed 8 KiB %.3f; want cdc above 1.8 and above fixed", cdc, fixed)
	}
}

func measureValues(t testing.TB, p Params, values [][]byte) DedupStats {
	t.Helper()
	d, err := NewDedup(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range values {
		if err := d.Add(bytes.NewReader(v)); err != nil {
			t.Fatal(err)
		}
	}
	return d.Stats()
}

// BenchmarkChunk measures chunking throughput on random data, where CDC
// finds few early boundaries and scans most bytes.
func BenchmarkChunk(b *testing.B) {
	data := randomBytes(11, 16<<20)
	for _, p := range []Params{
		DefaultParams(Fixed),
		{Kind: Fixed, Size: 8 << 10},
		DefaultParams(CDC),
		{Kind: CDC, Min: 2 << 10, Avg: 8 << 10, Max: 32 << 10},
	} {
		b.Run(describe(p), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				drain(b, bytes.NewReader(data), p)
			}
		})
	}
}

// BenchmarkChunkSensorData measures chunking throughput on the shared
// sensor files, which are text.
func BenchmarkChunkSensorData(b *testing.B) {
	_, contents := sensorFiles(b)
	data := bytes.Join(contents, nil)
	for _, p := range []Params{{Kind: Fixed, Size: 8 << 10}, {Kind: CDC, Min: 2 << 10, Avg: 8 << 10, Max: 32 << 10}} {
		b.Run(describe(p), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				drain(b, bytes.NewReader(data), p)
			}
		})
	}
}

// BenchmarkSeal measures convergent encryption: two SHA-256 passes and
// AES-256-GCM per chunk.
func BenchmarkSeal(b *testing.B) {
	for _, size := range []int{8 << 10, 1 << 20} {
		data := randomBytes(12, size)
		b.Run(fmt.Sprintf("%d KiB", size>>10), func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, _, err := Seal(secretA, data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func drain(b *testing.B, r io.Reader, p Params) {
	c, err := New(r, p)
	if err != nil {
		b.Fatal(err)
	}
	for {
		if _, err := c.Next(); err != nil {
			if !errors.Is(err, io.EOF) {
				b.Fatal(err)
			}
			return
		}
	}
}
