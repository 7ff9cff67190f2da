package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/yuinet/yui/sensor"
)

// Defaults for the zero fields of Limits.
const (
	// DefaultMemoryPages is 64 MiB in WebAssembly pages of 64 KiB.
	DefaultMemoryPages = 1024
	// DefaultTimeout bounds one run of a module on one unit.
	DefaultTimeout = 30 * time.Second
	// DefaultMaxOutputBytes bounds what one run may write to its output.
	DefaultMaxOutputBytes = 64 << 20
	// DefaultMaxModuleBytes bounds the size of a module's binary.
	DefaultMaxModuleBytes = 32 << 20
)

// maxStderrBytes is how much of a module's standard error a failure
// reason keeps. The rest is dropped without failing the module's writes.
const maxStderrBytes = 4 << 10

// wasiModule is the only import module a job's module may use.
const wasiModule = wasi_snapshot_preview1.ModuleName

// Errors returned by this package. A failed run returns a *UnitError
// that wraps one of the reasons.
var (
	// ErrTimeout reports a run stopped by its time limit.
	ErrTimeout = errors.New("sandbox: time limit exceeded")
	// ErrMemory reports a module that needed more memory than its limit.
	ErrMemory = errors.New("sandbox: memory limit exceeded")
	// ErrOutputTooLarge reports a run stopped for writing more output
	// than its limit.
	ErrOutputTooLarge = errors.New("sandbox: output limit exceeded")
	// ErrExit reports a module that exited with a non-zero status.
	ErrExit = errors.New("sandbox: module exited with failure")
	// ErrTrap reports a module stopped by a WebAssembly trap, such as an
	// out-of-bounds access or unreachable code.
	ErrTrap = errors.New("sandbox: module trapped")
	// ErrBadOutput reports output that is not valid readings in the ABI.
	ErrBadOutput = errors.New("sandbox: malformed module output")
	// ErrBadModule reports a binary that is not a module this sandbox
	// runs: malformed, too large, or importing more than WASI.
	ErrBadModule = errors.New("sandbox: invalid module")
)

// Limits bounds what one run of a module may use. Zero fields take the
// defaults above.
type Limits struct {
	// MemoryPages is the most linear memory a module may have, in pages
	// of 64 KiB. It applies to every module of a Runtime.
	MemoryPages uint32
	// Timeout bounds the wall-clock time of one run.
	Timeout time.Duration
	// MaxOutputBytes bounds the bytes one run writes to standard output.
	MaxOutputBytes int
	// MaxModuleBytes bounds the size of a binary given to Compile.
	MaxModuleBytes int
}

func (l Limits) withDefaults() Limits {
	if l.MemoryPages == 0 {
		l.MemoryPages = DefaultMemoryPages
	}
	if l.Timeout <= 0 {
		l.Timeout = DefaultTimeout
	}
	if l.MaxOutputBytes <= 0 {
		l.MaxOutputBytes = DefaultMaxOutputBytes
	}
	if l.MaxModuleBytes <= 0 {
		l.MaxModuleBytes = DefaultMaxModuleBytes
	}
	return l
}

// UnitError reports a run that failed, with the reason and what the
// module left behind.
type UnitError struct {
	// Reason is one of the Err values of this package.
	Reason error
	// ExitCode is the module's exit status, or 0 when it did not exit.
	ExitCode uint32
	// Stderr is the start of the module's standard error.
	Stderr string
	// Detail is what the reason alone does not state, or empty.
	Detail string
}

func (e *UnitError) Error() string {
	msg := e.Reason.Error()
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.ExitCode != 0 {
		msg += fmt.Sprintf(" (exit status %d)", e.ExitCode)
	}
	if e.Stderr != "" {
		// The message keeps the start of stderr, where a Go panic or a
		// fatal error states its cause; the rest is in e.Stderr.
		msg += fmt.Sprintf("; module stderr: %q", firstLines(e.Stderr, 2))
	}
	return msg
}

func (e *UnitError) Unwrap() error { return e.Reason }

func firstLines(s string, n int) string {
	end := 0
	for range n {
		i := strings.IndexByte(s[end:], '\n')
		if i < 0 {
			return s
		}
		end += i + 1
	}
	return s[:end]
}

// Runtime compiles and runs modules under one set of limits. It is safe
// for concurrent use, and a failed run leaves it usable.
type Runtime struct {
	limits Limits
	rt     wazero.Runtime
}

// Config sets up a Runtime.
type Config struct {
	Limits Limits
	// Cache, if not nil, shares compiled code between Runtimes, so that
	// a module compiled by one need not be compiled again by another.
	Cache wazero.CompilationCache
	// Interpret runs modules in wazero's interpreter instead of compiling
	// them to machine code. Compiling is then much faster and running
	// much slower, which suits modules run once on little data.
	Interpret bool
}

// New returns a Runtime with WASI preview 1 instantiated and nothing
// else. Close releases it.
func New(ctx context.Context, cfg Config) (*Runtime, error) {
	limits := cfg.Limits.withDefaults()
	if limits.MemoryPages > 65536 {
		return nil, fmt.Errorf("sandbox: memory limit of %d pages is above WebAssembly's 65536", limits.MemoryPages)
	}
	rc := wazero.NewRuntimeConfig()
	if cfg.Interpret {
		rc = wazero.NewRuntimeConfigInterpreter()
	}
	rc = rc.WithMemoryLimitPages(limits.MemoryPages).
		WithCloseOnContextDone(true)
	if cfg.Cache != nil {
		rc = rc.WithCompilationCache(cfg.Cache)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, rc)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		rt.Close(ctx)
		return nil, fmt.Errorf("sandbox: instantiate WASI: %w", err)
	}
	return &Runtime{limits: limits, rt: rt}, nil
}

// Limits returns the limits the Runtime applies, defaults filled in.
func (r *Runtime) Limits() Limits { return r.limits }

// Close releases the runtime and every module compiled by it.
func (r *Runtime) Close(ctx context.Context) error { return r.rt.Close(ctx) }

// Module is a compiled module, ready to run on any number of units.
type Module struct {
	r        *Runtime
	compiled wazero.CompiledModule
}

// Compile checks and compiles a module's binary. The module must export
// "_start" and "memory", and import nothing but WASI preview 1.
func (r *Runtime) Compile(ctx context.Context, wasm []byte) (*Module, error) {
	if len(wasm) > r.limits.MaxModuleBytes {
		return nil, fmt.Errorf("%w: binary is %d bytes, limit %d", ErrBadModule, len(wasm), r.limits.MaxModuleBytes)
	}
	compiled, err := r.rt.CompileModule(ctx, wasm)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadModule, err)
	}
	if err := checkImports(compiled); err != nil {
		compiled.Close(ctx)
		return nil, err
	}
	return &Module{r: r, compiled: compiled}, nil
}

func checkImports(c wazero.CompiledModule) error {
	for _, f := range c.ImportedFunctions() {
		if mod, name, _ := f.Import(); mod != wasiModule {
			return fmt.Errorf("%w: imports %s.%s; a job's module may import only %s", ErrBadModule, mod, name, wasiModule)
		}
	}
	for _, m := range c.ImportedMemories() {
		mod, name, _ := m.Import()
		return fmt.Errorf("%w: imports memory %s.%s; a module must define its own", ErrBadModule, mod, name)
	}
	if _, ok := c.ExportedFunctions()["_start"]; !ok {
		return fmt.Errorf("%w: no _start export; build a WASI command (GOOS=wasip1 GOARCH=wasm)", ErrBadModule)
	}
	return nil
}

// Close releases the compiled code.
func (m *Module) Close(ctx context.Context) error { return m.compiled.Close(ctx) }

// Run runs the module once on the readings of one unit and returns the
// readings it outputs, each validated. args are the module's arguments
// after its name. The run's time limit is the earlier of Limits.Timeout
// and ctx's deadline. A failed run returns a *UnitError, and a cancelled
// ctx returns an error wrapping context.Canceled.
func (m *Module) Run(ctx context.Context, args []string, in []sensor.Reading) ([]sensor.Reading, error) {
	input, err := EncodeReadings(in)
	if err != nil {
		return nil, err
	}
	out, err := m.run(ctx, args, input)
	if err != nil {
		return nil, err
	}
	readings, err := DecodeReadings(out, m.r.limits.MaxOutputBytes)
	if err != nil {
		return nil, &UnitError{Reason: ErrBadOutput, Detail: err.Error()}
	}
	return readings, nil
}

// run instantiates the module with input on its standard input, which
// also runs its _start function, and returns its standard output.
func (m *Module) run(ctx context.Context, args []string, input []byte) ([]byte, error) {
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, m.r.limits.Timeout)
	defer cancel()

	stdout := &cappedWriter{limit: m.r.limits.MaxOutputBytes, onFull: cancel}
	stderr := &cappedWriter{limit: maxStderrBytes, silent: true}
	cfg := wazero.NewModuleConfig().
		WithName(""). // anonymous, so that runs of one module can overlap
		WithArgs(append([]string{"job"}, args...)...).
		WithStdin(bytes.NewReader(input)).
		WithStdout(stdout).
		WithStderr(stderr)

	mod, err := m.r.rt.InstantiateModule(ctx, m.compiled, cfg)
	if mod != nil {
		mod.Close(context.Background())
	}
	if err == nil {
		return stdout.buf.Bytes(), nil
	}
	// A deadline of the caller's is a time limit like Limits.Timeout, but
	// a cancellation is the caller's own decision, not the unit's fault.
	if errors.Is(parent.Err(), context.Canceled) {
		return nil, fmt.Errorf("sandbox: run cancelled: %w", parent.Err())
	}
	return nil, classify(err, stdout.full, stderr.buf.String())
}
