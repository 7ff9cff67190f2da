package discovery

import (
	"net"
	"net/netip"
	"reflect"
	"testing"
)

func ipNet(cidr string) *net.IPNet {
	ip, n, err := net.ParseCIDR(cidr)
	if err != nil {
		panic(err)
	}
	n.IP = ip
	return n
}

func TestNewLink(t *testing.T) {
	eth := net.Interface{Index: 2, Name: "eth0", Flags: net.FlagUp | net.FlagRunning | net.FlagBroadcast | net.FlagMulticast}
	addrs := []net.Addr{
		ipNet("192.0.2.10/24"),
		ipNet("198.51.100.9/31"), // point-to-point: no broadcast address
		ipNet("2001:db8::10/64"),
		ipNet("fe80::1/64"),
	}
	got, ok := newLink(eth, addrs, false)
	if !ok {
		t.Fatal("newLink rejected an up, broadcast-capable interface")
	}
	want := link{
		name:       "eth0",
		index:      2,
		broadcasts: []netip.Addr{netip.MustParseAddr("192.0.2.255")},
		subnets:    []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")},
		multicast:  true,
		addrs: []netip.Addr{
			netip.MustParseAddr("192.0.2.10"),
			netip.MustParseAddr("198.51.100.9"),
			netip.MustParseAddr("2001:db8::10"),
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("newLink = %+v, want %+v", got, want)
	}
}

func TestNewLinkSkips(t *testing.T) {
	addrs := []net.Addr{ipNet("192.0.2.10/24"), ipNet("fe80::1/64")}
	tests := []struct {
		name  string
		flags net.Flags
		addrs []net.Addr
	}{
		{"down", net.FlagBroadcast | net.FlagMulticast, addrs},
		{"no carrier", net.FlagUp | net.FlagBroadcast | net.FlagMulticast, addrs},
		{"loopback", net.FlagUp | net.FlagRunning | net.FlagLoopback, []net.Addr{ipNet("127.0.0.1/8")}},
		{"no broadcast or multicast", net.FlagUp | net.FlagRunning | net.FlagPointToPoint, addrs},
		{"no IPv6 link-local address", net.FlagUp | net.FlagRunning | net.FlagMulticast, []net.Addr{ipNet("2001:db8::1/64")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ifi := net.Interface{Index: 3, Name: "x0", Flags: tt.flags}
			if l, ok := newLink(ifi, tt.addrs, false); ok {
				t.Errorf("newLink accepted %+v", l)
			}
		})
	}
}

func TestNewLinkLoopback(t *testing.T) {
	lo := net.Interface{Index: 1, Name: "lo", Flags: net.FlagUp | net.FlagRunning | net.FlagLoopback}
	l, ok := newLink(lo, []net.Addr{ipNet("127.0.0.1/8"), ipNet("::1/128")}, true)
	if !ok {
		t.Fatal("newLink rejected loopback with includeLoopback set")
	}
	if want := []netip.Addr{netip.MustParseAddr("127.255.255.255")}; !reflect.DeepEqual(l.broadcasts, want) {
		t.Errorf("broadcasts = %v, want %v", l.broadcasts, want)
	}
	if l.multicast {
		t.Error("IPv6 multicast enabled on loopback")
	}
}

func TestLinkFor(t *testing.T) {
	links := []link{
		{name: "eth0", subnets: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}},
		{name: "eth1", subnets: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}, multicast: true},
	}
	tests := []struct {
		src  string
		want string
	}{
		{"192.0.2.77", "eth0"},
		{"198.51.100.3", "eth1"},
		{"fe80::9%eth1", "eth1"},
		{"203.0.113.1", ""},
		{"fe80::9%eth9", ""},
	}
	for _, tt := range tests {
		l, ok := linkFor(links, netip.MustParseAddr(tt.src))
		if tt.want == "" {
			if ok {
				t.Errorf("linkFor(%s) = %s, want none", tt.src, l.name)
			}
			continue
		}
		if l.name != tt.want {
			t.Errorf("linkFor(%s) = %q, want %q", tt.src, l.name, tt.want)
		}
	}
}

func TestBroadcastAddr(t *testing.T) {
	tests := map[string]string{
		"10.1.2.3/8":      "10.255.255.255",
		"192.168.7.1/24":  "192.168.7.255",
		"192.168.7.1/30":  "192.168.7.3",
		"172.16.5.4/20":   "172.16.15.255",
		"198.51.100.0/25": "198.51.100.127",
	}
	for prefix, want := range tests {
		if got := broadcastAddr(netip.MustParsePrefix(prefix)); got.String() != want {
			t.Errorf("broadcastAddr(%s) = %s, want %s", prefix, got, want)
		}
	}
}
