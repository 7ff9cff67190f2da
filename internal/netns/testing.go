package netns

import (
	"net/netip"
	"testing"
)

// ForTest returns a new lab that is closed when tb ends. It skips the test
// when namespaces are unavailable (see Check).
func ForTest(tb testing.TB, prefix string) *Lab {
	tb.Helper()
	if err := Check(); err != nil {
		tb.Skipf("skipping test with network namespaces: %v", err)
	}
	lab, err := New(prefix)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := lab.Close(); err != nil {
			tb.Errorf("delete network namespaces: %v", err)
		}
	})
	return lab
}

// NewBridge is Bridge that fails tb on error.
func (l *Lab) NewBridge(tb testing.TB, name string) *Bridge {
	tb.Helper()
	br, err := l.Bridge(name)
	if err != nil {
		tb.Fatal(err)
	}
	return br
}

// NewNamespace is Namespace that fails tb on error.
func (l *Lab) NewNamespace(tb testing.TB, name string) *Namespace {
	tb.Helper()
	ns, err := l.Namespace(name)
	if err != nil {
		tb.Fatal(err)
	}
	return ns
}

// Attach is AttachTo that fails tb on error.
func (n *Namespace) Attach(tb testing.TB, br *Bridge, ifname string, addrs ...netip.Prefix) {
	tb.Helper()
	if err := n.AttachTo(br, ifname, addrs...); err != nil {
		tb.Fatal(err)
	}
}
