package node

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestHostAddrForUnspecifiedListen(t *testing.T) {
	addrs := func(list ...string) func() ([]net.Addr, error) {
		return func() ([]net.Addr, error) {
			var out []net.Addr
			for _, s := range list {
				ip, n, err := net.ParseCIDR(s)
				if err != nil {
					t.Fatal(err)
				}
				n.IP = ip
				out = append(out, n)
			}
			return out, nil
		}
	}
	cases := []struct {
		name   string
		listen string
		addrs  func() ([]net.Addr, error)
		want   string
	}{
		{"specific address kept", "10.0.0.5:4717", addrs("192.168.1.2/24"), "10.0.0.5:4717"},
		{"private IPv4 preferred", "[::]:4717", addrs("127.0.0.1/8", "fe80::1/64", "2001:db8::7/64", "192.168.1.2/24"), "192.168.1.2:4717"},
		{"global IPv6 over loopback", "0.0.0.0:4717", addrs("127.0.0.1/8", "fe80::1/64", "2001:db8::7/64"), "[2001:db8::7]:4717"},
		{"loopback alone", "[::]:9000", addrs("127.0.0.1/8", "::1/128"), "127.0.0.1:9000"},
		{"no addresses", "[::]:4717", func() ([]net.Addr, error) { return nil, errors.New("no interfaces") }, "[::]:4717"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := hostAddr(netip.MustParseAddrPort(c.listen), c.addrs)
			if got.String() != c.want {
				t.Errorf("hostAddr(%s) = %s, want %s", c.listen, got, c.want)
			}
		})
	}
}

// TestWriteFileAtomicConcurrent replaces one file from many goroutines
// at once: the file must end as one whole version, never a mix.
func TestWriteFileAtomicConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "status")
	versions := [][]byte{bytes.Repeat([]byte("a"), 600), bytes.Repeat([]byte("b"), 420)}
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			if err := writeFileAtomic(path, versions[i%2]); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()

	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, versions[0]) && !bytes.Equal(got, versions[1]) {
		t.Fatalf("file holds %d bytes mixing both versions", len(got))
	}
	left, _ := filepath.Glob(path + ".*.tmp")
	if len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}
