package quicnet

import (
	"errors"
	"strings"
	"testing"

	"github.com/yuinet/yui/network/identity"
)

func TestParseListenAddr(t *testing.T) {
	tests := []struct {
		input   string
		network string
		addr    string
	}{
		{"", "udp", ":4717"},
		{":9000", "udp", ":9000"},
		{"127.0.0.1", "udp4", "127.0.0.1:4717"},
		{"127.0.0.1:9000", "udp4", "127.0.0.1:9000"},
		{"0.0.0.0:4717", "udp4", "0.0.0.0:4717"},
		{"::1", "udp", "[::1]:4717"},
		{"[::1]", "udp", "[::1]:4717"},
		{"[::]:9000", "udp", "[::]:9000"},
	}
	for _, tt := range tests {
		network, addr, err := parseListenAddr(tt.input)
		if err != nil {
			t.Errorf("parseListenAddr(%q): %v", tt.input, err)
			continue
		}
		if network != tt.network {
			t.Errorf("parseListenAddr(%q) network = %s, want %s", tt.input, network, tt.network)
		}
		if addr.String() != tt.addr {
			t.Errorf("parseListenAddr(%q) address = %s, want %s", tt.input, addr, tt.addr)
		}
	}

	for _, bad := range []string{"127.0.0.1:port", "127.0.0.1:70000"} {
		if _, _, err := parseListenAddr(bad); !errors.Is(err, ErrConfig) {
			t.Errorf("parseListenAddr(%q): error = %v, want ErrConfig", bad, err)
		}
	}
}

func TestConfigRejects(t *testing.T) {
	id, err := identity.New()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no identity", Config{Addr: "127.0.0.1:0"}},
		{"network name with space", Config{Identity: id, Addr: "127.0.0.1:0", Network: "my net"}},
		{"network name too long", Config{Identity: id, Addr: "127.0.0.1:0", Network: strings.Repeat("n", maxNetworkName+1)}},
		{"invalid address", Config{Identity: id, Addr: "127.0.0.1:port"}},
	}
	for _, tt := range tests {
		tr, err := Listen(tt.cfg)
		if err == nil {
			tr.Close()
		}
		if !errors.Is(err, ErrConfig) {
			t.Errorf("%s: Listen error = %v, want ErrConfig", tt.name, err)
		}
	}
}
