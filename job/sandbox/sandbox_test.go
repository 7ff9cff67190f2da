package sandbox

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/yuinet/yui/sensor"
)

// cache shares compiled code between the tests' runtimes, so that each
// module is compiled once per test binary.
var cache = wazero.NewCompilationCache()

func newRuntime(t *testing.T, limits Limits) *Runtime {
	t.Helper()
	// Under the race detector wazero's compiler takes about 15 s per
	// module, and its interpreter far less.
	r, err := New(context.Background(), Config{Limits: limits, Cache: cache, Interpret: raceEnabled})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(context.Background()) })
	return r
}

var (
	binaries   = map[string][]byte{}
	binariesMu sync.Mutex
)

// readModule returns a module's binary from testdata, read once.
func readModule(name string) ([]byte, error) {
	binariesMu.Lock()
	defer binariesMu.Unlock()
	if b, ok := binaries[name]; ok {
		return b, nil
	}
	b, err := os.ReadFile(filepath.Join("testdata", name+".wasm"))
	if err != nil {
		return nil, fmt.Errorf("%w (rebuild the modules with go generate)", err)
	}
	binaries[name] = b
	return b, nil
}

func compile(t *testing.T, r *Runtime, name string) *Module {
	t.Helper()
	b, err := readModule(name)
	if err != nil {
		t.Fatal(err)
	}
	m, err := r.Compile(context.Background(), b)
	if err != nil {
		t.Fatalf("compile %s: %v", name, err)
	}
	return m
}

func reading(source string, sec int64, temp float64) sensor.Reading {
	return sensor.Reading{
		Source: source,
		Time:   time.Unix(sec, 123456789).UTC(),
		Fields: []sensor.Field{
			{Name: "humidity", Value: sensor.Number(50.5)},
			{Name: "temperature", Value: sensor.Number(temp)},
			{Name: "note", Value: sensor.Text("ok")},
			{Name: "par", Value: sensor.Missing()},
		},
		Location: sensor.PlanePoint(1.5, -2),
	}
}

// checkFahrenheit runs the example module and checks every output.
func checkFahrenheit(t *testing.T, m *Module) {
	t.Helper()
	in := []sensor.Reading{
		reading("20", 1163438041, 21.21),
		{Source: "21", Time: time.Unix(1163438042, 0).UTC()}, // no temperature: dropped
		reading("22", 1163438043, 40),                        // 104 °F, above 100: dropped
		reading("23", 1163438044, -40),
	}
	got, err := m.Run(context.Background(), []string{"100"}, in)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if len(got) != 2 {
		t.Fatalf("%d readings out, want 2: %v", len(got), got)
	}
	for i, src := range []int{0, 3} {
		want := in[src]
		c, _ := want.Fields[1].Value.Number()
		want.Fields = append(append([]sensor.Field{}, want.Fields...),
			sensor.Field{Name: "temperature_f", Value: sensor.Number(c*9/5 + 32)})
		if !got[i].Equal(&want) {
			t.Errorf("output %d is %+v, want %+v", i, got[i], want)
		}
	}
}

func TestRunFahrenheit(t *testing.T) {
	r := newRuntime(t, Limits{})
	checkFahrenheit(t, compile(t, r, "fahrenheit"))
}

// Each fault fails the unit with its own reason, and the runtime runs a
// good module correctly afterwards.
func TestLimitsStopFaults(t *testing.T) {
	// The runtime's own time limit is long, so that a loaded machine
	// cannot turn the other faults or the good runs into timeouts. The
	// loop gets a short one through its context.
	r := newRuntime(t, Limits{MemoryPages: 128, Timeout: 5 * time.Minute, MaxOutputBytes: 1 << 20})
	cases := []struct {
		fault   string
		timeout time.Duration
		reason  error
	}{
		{"loop", time.Second, ErrTimeout},
		{"alloc", 0, ErrMemory},
		{"flood", 0, ErrOutputTooLarge},
		{"fail", 0, ErrExit},
	}
	bad := compile(t, r, "misbehave")
	good := compile(t, r, "fahrenheit")
	for _, c := range cases {
		t.Run(c.fault, func(t *testing.T) {
			ctx := context.Background()
			if c.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, c.timeout)
				defer cancel()
			}
			out, err := bad.Run(ctx, []string{c.fault}, []sensor.Reading{reading("1", 1, 20)})
			if !errors.Is(err, c.reason) {
				t.Fatalf("error %v, want %v", err, c.reason)
			}
			var ue *UnitError
			if !errors.As(err, &ue) {
				t.Fatalf("error %T is not a *UnitError", err)
			}
			if out != nil {
				t.Errorf("failed run returned %d readings", len(out))
			}
			checkFahrenheit(t, good)
		})
	}
}

// Limits.Timeout stops a run when the caller sets no deadline.
func TestTimeoutLimitStopsLoop(t *testing.T) {
	r := newRuntime(t, Limits{Timeout: time.Second})
	_, err := compile(t, r, "misbehave").Run(context.Background(), []string{"loop"}, nil)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("error %v, want ErrTimeout", err)
	}
}

func TestFailureKeepsStderr(t *testing.T) {
	r := newRuntime(t, Limits{})
	_, err := compile(t, r, "misbehave").Run(context.Background(), []string{"fail"}, nil)
	var ue *UnitError
	if !errors.As(err, &ue) {
		t.Fatalf("error %v is not a *UnitError", err)
	}
	if ue.ExitCode != 3 {
		t.Errorf("exit code %d, want 3", ue.ExitCode)
	}
	if ue.Stderr != "misbehave: failing as asked\n" {
		t.Errorf("stderr %q", ue.Stderr)
	}
}

// A cancelled caller gets its context's error, not a unit failure.
func TestRunCancelledByCaller(t *testing.T) {
	r := newRuntime(t, Limits{Timeout: time.Hour})
	m := compile(t, r, "misbehave")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := m.Run(ctx, []string{"loop"}, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	var ue *UnitError
	if errors.As(err, &ue) {
		t.Errorf("caller's cancellation reported as a unit failure: %v", err)
	}
}

// Runs of one module may overlap.
func TestRunConcurrent(t *testing.T) {
	r := newRuntime(t, Limits{})
	m := compile(t, r, "fahrenheit")
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { checkFahrenheit(t, m) })
	}
	wg.Wait()
}

func TestCompileRejects(t *testing.T) {
	r := newRuntime(t, Limits{MaxModuleBytes: 1 << 10})
	cases := map[string][]byte{
		"garbage":   []byte("not a module"),
		"too large": make([]byte, 2<<10),
		// A valid module with no _start: magic, version, nothing else.
		"no start": {0, 'a', 's', 'm', 1, 0, 0, 0},
		// A module that imports env.f of type () -> ().
		"foreign import": {
			0, 'a', 's', 'm', 1, 0, 0, 0,
			1, 4, 1, 0x60, 0, 0, // type section: one func type () -> ()
			2, 9, 1, 3, 'e', 'n', 'v', 1, 'f', 0, 0, // import env.f
		},
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := r.Compile(context.Background(), b); !errors.Is(err, ErrBadModule) {
				t.Fatalf("error %v, want ErrBadModule", err)
			}
		})
	}
}

func TestReadingsRoundTrip(t *testing.T) {
	in := []sensor.Reading{
		reading("a", 0, 21.21),
		{Source: "b", Time: time.Unix(-5, 1).UTC(), Location: sensor.GeoPoint(50.8, 4.3)},
		{Source: "c", Time: time.Unix(1, 0).UTC(), Fields: []sensor.Field{
			{Name: "tiny", Value: sensor.Number(math.SmallestNonzeroFloat64)},
			{Name: "big", Value: sensor.Number(-math.MaxFloat64)},
		}},
	}
	b, err := EncodeReadings(in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeReadings(b, len(b))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(in) {
		t.Fatalf("%d readings, want %d", len(got), len(in))
	}
	for i := range in {
		if !got[i].Equal(&in[i]) {
			t.Errorf("reading %d: %+v, want %+v", i, got[i], in[i])
		}
	}
}

func TestDecodeReadingsRejects(t *testing.T) {
	cases := []string{
		`{"source":"a","time":"2006-01-02T15:04:05Z","fields":[],"extra":1}`,
		`{"source":"","time":"2006-01-02T15:04:05Z","fields":[]}`,
		`{"source":"a","time":"yesterday","fields":[]}`,
		`{"source":"a","time":"2006-01-02T15:04:05Z","fields":[{"name":"x","value":true}]}`,
		`{"source":"a","time":"2006-01-02T15:04:05Z","fields":[{"name":"x","value":1e999}]}`,
		`{"source":"a","time":"2006-01-02T15:04:05Z","location":{"lat":1}}`,
		`{"source":"a","time":"2006-01-02T15:04:05Z"} {}`,
		`[1,2]`,
	}
	for i, c := range cases {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			if got, err := DecodeReadings([]byte(c), 1<<20); err == nil {
				t.Fatalf("accepted %s as %+v", c, got)
			}
		})
	}
	if _, err := DecodeReadings(make([]byte, 11), 10); err == nil {
		t.Error("accepted output above the limit")
	}
}

// A module sees no host file or directory, no environment, only the
// arguments it is given, and a fake wall clock.
func TestModuleSeesNoHost(t *testing.T) {
	r := newRuntime(t, Limits{})
	out, err := compile(t, r, "misbehave").Run(context.Background(), []string{"probe"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 {
		t.Fatalf("%d readings out, want 1", len(out))
	}
	want := map[string]float64{
		"file_readable": 0,
		"dir_readable":  0,
		"env_count":     0,
		"arg_count":     2, // the program name and "probe"
	}
	for name, w := range want {
		v, _ := out[0].Get(name)
		if got, ok := v.Number(); !ok || got != w {
			t.Errorf("%s is %v, want %v", name, v, w)
		}
	}
	// wazero's fake wall clock starts on 2022-01-01, whatever the date.
	if year, _ := out[0].Get("year"); !year.Equal(sensor.Number(2022)) {
		t.Errorf("module's clock shows year %v, want the fake clock's 2022", year)
	}
}
