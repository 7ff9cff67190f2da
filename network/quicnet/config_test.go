package quicnet

import (
	"errors"
	"strings"
	"testing"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
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
		if _, _, err := parseListenAddr(bad); err == nil || !strings.Contains(err.Error(), "want HOST:PORT") {
			t.Errorf("parseListenAddr(%q): error = %v, want one that shows the form", bad, err)
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
		{"connection buffer below a message", Config{Identity: id, Addr: "127.0.0.1:0", MaxBufferedPerConn: wire.MaxMessageSize - 1}},
		{"IP buffer below a message", Config{Identity: id, Addr: "127.0.0.1:0", MaxBufferedPerIP: wire.MaxMessageSize - 1}},
		{"transport buffer below a message", Config{Identity: id, Addr: "127.0.0.1:0", MaxBuffered: 1}},
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

func TestValidateNetworkNamesRule(t *testing.T) {
	tests := []struct {
		name string
		want []string // substrings of the error, empty for a valid name
	}{
		{"yui-lab.2", nil},
		{"a b", []string{`"a b"`, "contains a space at byte 1", "printable ASCII"}},
		{"ゆい", []string{`"ゆい"`, `non-ASCII character 'ゆ' (U+3086) at byte 0`}},
		{"lab\tnet", []string{`"lab\tnet"`, "control character U+0009 at byte 3"}},
		{"del\x7f", []string{"control character U+007F"}},
		{"bad\xffutf8", []string{`"bad\xffutf8"`, "is not valid UTF-8 at byte 3"}},
	}
	for _, tt := range tests {
		err := validateNetwork(tt.name)
		if len(tt.want) == 0 {
			if err != nil {
				t.Errorf("validateNetwork(%q) = %v, want nil", tt.name, err)
			}
			continue
		}
		if !errors.Is(err, ErrConfig) {
			t.Errorf("validateNetwork(%q) = %v, want ErrConfig", tt.name, err)
			continue
		}
		for _, want := range tt.want {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("validateNetwork(%q) = %q, want it to contain %q", tt.name, err, want)
			}
		}
	}
}
