package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/yuinet/yui/network/identity"
)

// run executes the command line with args and returns its output.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCommand()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestDefaultDataDir(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", "/xdg")
	if got := defaultDataDir(); got != "/xdg/yui" {
		t.Errorf("with XDG_DATA_HOME: %q, want /xdg/yui", got)
	}
	t.Setenv("XDG_DATA_HOME", "")
	t.Setenv("HOME", "/home/u")
	if got := defaultDataDir(); got != "/home/u/.local/share/yui" {
		t.Errorf("without XDG_DATA_HOME: %q, want /home/u/.local/share/yui", got)
	}
}

func TestStatusWithoutNode(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "empty")
	_, err := run(t, "status", "--data-dir", dir)
	if err == nil {
		t.Fatal("status with no node running succeeded")
	}
	if !strings.Contains(err.Error(), "yui node --data-dir "+dir) {
		t.Errorf("error %q does not say how to start a node", err)
	}
}

func TestEnvironmentSetsFlags(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "from-env")
	t.Setenv("YUI_DATA_DIR", dir)
	_, err := run(t, "peers")
	if err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("peers with YUI_DATA_DIR=%s: error %v, want one naming that folder", dir, err)
	}

	t.Setenv("YUI_LOG_FORMAT", "xml")
	if _, err := run(t, "node"); err == nil || !strings.Contains(err.Error(), `"xml"`) {
		t.Errorf("node with YUI_LOG_FORMAT=xml: error %v, want one naming the value", err)
	}
}

func TestFlagBeatsEnvironment(t *testing.T) {
	envDir := filepath.Join(t.TempDir(), "env")
	flagDir := filepath.Join(t.TempDir(), "flag")
	t.Setenv("YUI_DATA_DIR", envDir)
	_, err := run(t, "status", "--data-dir", flagDir)
	if err == nil || !strings.Contains(err.Error(), flagDir) {
		t.Errorf("error %v, want one naming the --data-dir folder %s", err, flagDir)
	}
}

func TestInvalidEnvironmentValue(t *testing.T) {
	t.Setenv("YUI_DISCOVERY_PORT", "many")
	_, err := run(t, "node")
	if err == nil || !strings.Contains(err.Error(), "YUI_DISCOVERY_PORT") {
		t.Errorf("error %v, want one naming YUI_DISCOVERY_PORT", err)
	}
}

func TestParseTarget(t *testing.T) {
	id := identity.KeyID([]byte("n"))
	if got := parseTarget(id.String()); got != id {
		t.Errorf("parseTarget(hex ID) = %s, want %s", got, id)
	}
	if got := parseTarget("room-12"); got != identity.KeyID([]byte("room-12")) {
		t.Errorf("parseTarget(key) = %s, want the key's hash", got)
	}
}

func TestSplitList(t *testing.T) {
	got := splitList([]string{"a:1, b:2", "", " c:3 "})
	want := []string{"a:1", "b:2", "c:3"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("splitList = %q, want %q", got, want)
	}
}

func TestDemoRejectsBadSizes(t *testing.T) {
	for _, args := range [][]string{
		{"demo", "--nodes", "1"},
		{"demo", "--nodes", "5", "--kill", "4"},
		{"demo", "--lookups", "0"},
	} {
		if _, err := run(t, args...); err == nil || !strings.Contains(err.Error(), "invalid demo size") {
			t.Errorf("%v: error %v, want an invalid demo size error", args, err)
		}
	}
}

func TestVersion(t *testing.T) {
	out, err := run(t, "version")
	if err != nil || !strings.HasPrefix(out, "yui ") {
		t.Errorf("version = %q, %v", out, err)
	}
}

func TestDashboardFlags(t *testing.T) {
	dc, err := dashboardConfig("120.5,34", "/plan.png", "0,0,200,100")
	if err != nil {
		t.Fatal(err)
	}
	if dc.Location == nil || dc.Location.X != 120.5 || dc.Location.Y != 34 {
		t.Errorf("location = %+v, want 120.5,34", dc.Location)
	}
	if dc.MapURL != "/plan.png" || dc.MapBounds == nil || *dc.MapBounds != [4]float64{0, 0, 200, 100} {
		t.Errorf("map = %q %v, want /plan.png over 0,0,200,100", dc.MapURL, dc.MapBounds)
	}

	for _, bad := range [][3]string{
		{"1", "", ""},
		{"a,b", "", ""},
		{"", "/plan.png", ""},
		{"", "", "0,0,1,1"},
		{"", "/plan.png", "0,0,1"},
		{"", "/plan.png", "5,0,1,1"},
	} {
		if _, err := dashboardConfig(bad[0], bad[1], bad[2]); err == nil {
			t.Errorf("dashboardConfig(%q, %q, %q) accepted, want an error", bad[0], bad[1], bad[2])
		}
	}
}

func TestIsWasm(t *testing.T) {
	module, err := os.ReadFile(filepath.Join("..", "..", "job", "sandbox", "testdata", "fahrenheit.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	if !isWasm(module) {
		t.Error("the example module is not taken for WebAssembly")
	}
	for _, bad := range [][]byte{nil, []byte("root:x:0:0:root:/root:/bin/bash\n"), []byte("\x00asm\x02\x00\x00\x00")} {
		if isWasm(bad) {
			t.Errorf("%q taken for WebAssembly", bad)
		}
	}
}

func TestWrongArgumentCountNamesUsage(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"lookup"}, "lookup takes KEY|ID, got 0 arguments; usage: yui lookup KEY|ID"},
		{[]string{"lookup", "a", "b"}, "lookup takes KEY|ID, got 2 arguments"},
		{[]string{"import", "--ns", "lab"}, "usage: yui import FILE... --ns NAMESPACE"},
		{[]string{"put", "sensors"}, "put takes NAMESPACE KEY [FILE|-], got 1 argument;"},
	}
	for _, c := range cases {
		_, err := run(t, append(c.args, "--data-dir", t.TempDir())...)
		if err == nil {
			t.Errorf("%q succeeded, want a usage error", c.args)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %q does not contain %q", c.args, err, c.want)
		}
	}
}

func TestNodeRejectsBadSightingsKeep(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "node")
	for _, tc := range []struct{ value, want string }{
		{"-2h", `--sightings-keep -2h0m0s`},
		{"7d", `"7d"`},
		{"soon", `"soon"`},
	} {
		_, err := run(t, "node", "--data-dir", dir, "--sightings-keep="+tc.value)
		if err == nil {
			t.Fatalf("node --sightings-keep=%s started", tc.value)
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("--sightings-keep=%s: error %q does not name the value as %s", tc.value, err, tc.want)
		}
	}
	t.Setenv("YUI_SIGHTINGS_KEEP", "-1m")
	_, err := run(t, "node", "--data-dir", dir)
	if err == nil || !strings.Contains(err.Error(), "-1m0s") {
		t.Errorf("YUI_SIGHTINGS_KEEP=-1m: error %v, want one naming the value", err)
	}
}

func TestUnknownFlagNamesHelp(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"get", "ns", "k", "--bogus"}, "unknown flag: --bogus; 'yui get --help' lists the flags"},
		{[]string{"msg", "inbox", "--usr", "bob"}, "'yui msg inbox --help' lists the flags"},
		{[]string{"query", "lab", "--limit", "many"}, "'yui query --help' lists the flags"},
		{[]string{"--bogus"}, "'yui --help' lists the flags"},
	}
	for _, c := range cases {
		_, err := run(t, c.args...)
		if err == nil {
			t.Errorf("%q succeeded, want a flag error", c.args)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %q does not contain %q", c.args, err, c.want)
		}
	}
}
