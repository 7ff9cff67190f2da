package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/yuinet/yui/alert"
)

func TestParseArea(t *testing.T) {
	circle, err := parseArea("35.68, 139.76, 2500")
	if err != nil {
		t.Fatal(err)
	}
	if circle.Center == nil || circle.Center.Lat != 35.68 || circle.Center.Lon != 139.76 || circle.Radius != 2500 {
		t.Errorf("circle = %+v, want center 35.68,139.76 radius 2500", circle)
	}

	poly, err := parseArea("35.6,139.7;35.7,139.7;35.7,139.8")
	if err != nil {
		t.Fatal(err)
	}
	if len(poly.Polygon) != 3 || poly.Polygon[2] != (alert.Point{Lat: 35.7, Lon: 139.8}) {
		t.Errorf("polygon = %+v, want 3 vertices ending at 35.7,139.8", poly.Polygon)
	}

	if a, err := parseArea(""); err != nil || a != nil {
		t.Errorf("empty area = %v, %v; want nil for everywhere", a, err)
	}
	for _, bad := range []string{"35.6,139.7", "1,2,3,4", "a,b,c", "1,2;3"} {
		if _, err := parseArea(bad); err == nil || !strings.Contains(err.Error(), "--area") {
			t.Errorf("parseArea(%q) = %v, want an error naming --area", bad, err)
		}
	}
}

func TestBuildAlert(t *testing.T) {
	a, err := buildAlert("EVACUATE", "", 2*time.Hour, "Go uphill")
	if err != nil {
		t.Fatal(err)
	}
	if a.Level != alert.Evacuate || a.Expires.Sub(a.Issued) != 2*time.Hour || a.Text != "Go uphill" {
		t.Errorf("alert = %+v, want evacuate for 2h", a)
	}
	if _, err := buildAlert("panic", "", time.Hour, "x"); err == nil {
		t.Error("unknown level accepted")
	}
	if _, err := buildAlert("info", "", -time.Hour, "x"); err == nil {
		t.Error("negative --expires accepted")
	}
}

func TestAuthorityCommandsWithoutNode(t *testing.T) {
	dir := t.TempDir()
	out := runCLI(t, "authority", "create", "city", "--data-dir", dir)
	if !strings.Contains(out, "public key: ") {
		t.Fatalf("authority create printed %q, want the public key", out)
	}
	list := runCLI(t, "authority", "ls", "--data-dir", dir)
	if !strings.Contains(list, "city") || !strings.Contains(list, "yes") {
		t.Errorf("authority ls printed %q, want city with its key here", list)
	}
}

// runCLI runs the yui command line with args and returns its output.
func runCLI(t *testing.T, args ...string) string {
	t.Helper()
	root := newRootCommand()
	var out strings.Builder
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		t.Fatalf("yui %v: %v\n%s", args, err, out.String())
	}
	return out.String()
}
