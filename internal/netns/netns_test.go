package netns

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

// udpExchange sends one datagram from a socket opened in from to a socket
// opened in to, and reports whether it arrived within five seconds.
func udpExchange(t *testing.T, from, to *Namespace, dst netip.Addr) bool {
	t.Helper()
	var recv, send *net.UDPConn
	err := to.Do(func() (err error) {
		recv, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, 0)))
		return err
	})
	if err != nil {
		t.Fatalf("listen in %s: %v", to.Name(), err)
	}
	defer recv.Close()
	err = from.Do(func() (err error) {
		send, err = net.ListenUDP("udp", nil)
		return err
	})
	if err != nil {
		t.Fatalf("listen in %s: %v", from.Name(), err)
	}
	defer send.Close()

	if _, err := send.WriteToUDPAddrPort([]byte("ping"), recv.LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
		t.Logf("send from %s: %v", from.Name(), err)
		return false
	}
	recv.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 16)
	n, _, err := recv.ReadFromUDPAddrPort(buf)
	return err == nil && bytes.Equal(buf[:n], []byte("ping"))
}

func TestLabBridgeConnectsHosts(t *testing.T) {
	lab := ForTest(t, "yuinetnstest")
	lan := lab.NewBridge(t, "lan")
	a := lab.NewNamespace(t, "a")
	b := lab.NewNamespace(t, "b")
	a.Attach(t, lan, "eth0", netip.MustParsePrefix("10.201.0.1/24"))
	b.Attach(t, lan, "eth0", netip.MustParsePrefix("10.201.0.2/24"))

	if !udpExchange(t, a, b, netip.MustParseAddr("10.201.0.2")) {
		t.Fatal("datagram from a to b over the bridge did not arrive")
	}

	if err := a.SetLinkUp("eth0", false); err != nil {
		t.Fatal(err)
	}
	if udpExchange(t, a, b, netip.MustParseAddr("10.201.0.2")) {
		t.Error("datagram arrived while the link of a was down")
	}
	if err := a.SetLinkUp("eth0", true); err != nil {
		t.Fatal(err)
	}
	if !udpExchange(t, a, b, netip.MustParseAddr("10.201.0.2")) {
		t.Error("datagram did not arrive after the link of a came back up")
	}
}

func TestLabRouterConnectsSubnets(t *testing.T) {
	lab := ForTest(t, "yuinetnstest")
	left := lab.NewBridge(t, "left")
	right := lab.NewBridge(t, "right")
	router := lab.NewNamespace(t, "router")
	router.Attach(t, left, "eth0", netip.MustParsePrefix("10.202.1.1/24"))
	router.Attach(t, right, "eth1", netip.MustParsePrefix("10.202.2.1/24"))
	if err := router.Sysctl("net.ipv4.ip_forward", "1"); err != nil {
		t.Fatal(err)
	}
	a := lab.NewNamespace(t, "a")
	a.Attach(t, left, "eth0", netip.MustParsePrefix("10.202.1.2/24"))
	b := lab.NewNamespace(t, "b")
	b.Attach(t, right, "eth0", netip.MustParsePrefix("10.202.2.2/24"))

	if udpExchange(t, a, b, netip.MustParseAddr("10.202.2.2")) {
		t.Fatal("datagram crossed subnets with no route")
	}
	if err := a.AddRoute(netip.MustParsePrefix("10.202.2.0/24"), netip.MustParseAddr("10.202.1.1")); err != nil {
		t.Fatal(err)
	}
	if err := b.AddRoute(netip.MustParsePrefix("10.202.1.0/24"), netip.MustParseAddr("10.202.2.1")); err != nil {
		t.Fatal(err)
	}
	if !udpExchange(t, a, b, netip.MustParseAddr("10.202.2.2")) {
		t.Error("datagram from a to b through the router did not arrive")
	}
}

func TestNamespaceRun(t *testing.T) {
	lab := ForTest(t, "yuinetnstest")
	lan := lab.NewBridge(t, "lan")
	a := lab.NewNamespace(t, "a")
	a.Attach(t, lan, "eth0", netip.MustParsePrefix("10.203.0.1/24"))

	out, err := a.Run(context.Background(), "ip", "-o", "addr", "show", "dev", "eth0")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "10.203.0.1/24") {
		t.Errorf("ip addr inside the namespace printed %q, want 10.203.0.1/24", out)
	}

	if _, err := a.Run(context.Background(), "ip", "link", "show", "no-such-link"); err == nil {
		t.Error("Run of a failing command returned no error")
	}
}

func TestLabCloseDeletesNamespaces(t *testing.T) {
	if err := Check(); err != nil {
		t.Skipf("skipping test with network namespaces: %v", err)
	}
	lab, err := New("yuinetnstest")
	if err != nil {
		t.Fatal(err)
	}
	br, err := lab.Bridge("lan")
	if err != nil {
		lab.Close()
		t.Fatal(err)
	}
	a, err := lab.Namespace("a")
	if err != nil {
		lab.Close()
		t.Fatal(err)
	}
	if err := a.AttachTo(br, "eth0", netip.MustParsePrefix("10.204.0.1/24")); err != nil {
		lab.Close()
		t.Fatal(err)
	}

	if err := lab.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, ns := range []*Namespace{br.Namespace(), a} {
		if _, err := os.Stat(runDir + "/" + ns.Name()); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("namespace %s still exists after Close (stat: %v)", ns.Name(), err)
		}
	}
	if err := lab.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := lab.Namespace("b"); err == nil {
		t.Error("Namespace on a closed lab succeeded")
	}
}

func TestNewRejectsBadNames(t *testing.T) {
	if err := Check(); err != nil {
		t.Skipf("skipping test with network namespaces: %v", err)
	}
	if _, err := New("bad/prefix"); err == nil {
		t.Error("New accepted a prefix with a slash")
	}
	lab := ForTest(t, "yuinetnstest")
	if _, err := lab.Namespace("a/b"); err == nil {
		t.Error("Namespace accepted a name with a slash")
	}
	if _, err := New("bad-prefix"); err == nil {
		t.Error("New accepted a prefix with a dash")
	}
	br := lab.NewBridge(t, "lan")
	a := lab.NewNamespace(t, "a")
	if err := a.AttachTo(br, "an-interface-name-too-long", netip.MustParsePrefix("10.205.0.1/24")); err == nil {
		t.Error("AttachTo accepted a 26-byte interface name")
	}
}
