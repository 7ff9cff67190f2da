package sim

import (
	"bufio"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"
)

// Perf measures what a run cost the machine running it. Unlike results,
// these numbers vary from run to run, so they go into their own table.
type Perf struct {
	started time.Time
	samples []metrics.Sample
	// Wall is the wall-clock time of the run.
	Wall time.Duration
	// PeakHeap is the largest heap in use (live objects and unswept
	// garbage) seen at the samples, in bytes.
	PeakHeap uint64
	// PeakRSS is the process's peak resident set size (VmHWM in
	// /proc/self/status) in bytes, 0 where that file does not exist. It
	// covers the whole process, including earlier runs in it.
	PeakRSS uint64
	// LiveHeap is the heap of live objects at the end of the run, measured
	// after a forced collection, in bytes: what the simulated network
	// itself takes, without garbage.
	LiveHeap uint64
	// GCCycles is the number of garbage collections during the run.
	GCCycles uint32
	gcBefore uint32
}

// StartPerf starts measuring.
func StartPerf() *Perf {
	p := &Perf{
		started: time.Now(),
		samples: []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}},
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	p.gcBefore = ms.NumGC
	p.Sample()
	return p
}

// Sample records the heap in use now. It does not stop the world, so it
// is cheap enough to call from a progress callback.
func (p *Perf) Sample() {
	metrics.Read(p.samples)
	if v := p.samples[0].Value; v.Kind() == metrics.KindUint64 {
		p.PeakHeap = max(p.PeakHeap, v.Uint64())
	}
}

// Watch samples the heap at n's progress reports, keeping any callback
// already set.
func (p *Perf) Watch(n *Network) {
	prev := n.Progress
	n.Progress = func(now time.Duration) {
		p.Sample()
		if prev != nil {
			prev(now)
		}
	}
}

// Stop ends the measurement.
func (p *Perf) Stop() {
	p.Sample()
	p.Wall = time.Since(p.started)
	p.PeakRSS = peakRSS()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	p.GCCycles = ms.NumGC - p.gcBefore

	runtime.GC()
	metrics.Read(p.samples)
	if v := p.samples[0].Value; v.Kind() == metrics.KindUint64 {
		p.LiveHeap = v.Uint64()
	}
}

// peakRSS returns VmHWM from /proc/self/status in bytes, or 0.
func peakRSS() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:")
		if !ok {
			continue
		}
		kib, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0
		}
		return kib << 10
	}
	return 0
}
