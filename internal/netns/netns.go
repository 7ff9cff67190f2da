// Package netns builds virtual LANs out of Linux network namespaces for
// end-to-end tests: real kernels, real sockets and real broadcast, isolated
// from the host's own network.
//
// A Lab owns everything it creates and deletes it on Close. A Bridge is a
// Linux bridge that lives in a namespace of its own, so a lab never adds a
// link, address or route to the root namespace and two labs never share a
// name. A Namespace is one virtual host; Attach plugs it into a bridge
// through a veth pair and gives it addresses:
//
//	lab := netns.ForTest(t, "yuitest")
//	lan := lab.NewBridge(t, "lan")
//	host := lab.NewNamespace(t, "n1")
//	host.Attach(t, lan, "eth0", netip.MustParsePrefix("10.47.0.1/24"))
//	cmd := host.Command(ctx, "/path/to/program", "arg")
//
// The calls that take a testing.TB fail the test on error. Each has a
// variant that returns the error instead: New, Lab.Bridge, Lab.Namespace
// and Namespace.AttachTo.
//
// Every namespace is named "<prefix>-<pid>-<lab>-<name>", so concurrent
// test processes do not collide, and New deletes namespaces with the same
// prefix left by processes that no longer exist. Creating namespaces needs
// root (CAP_SYS_ADMIN and CAP_NET_ADMIN) and the ip command of iproute2.
package netns

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrUnavailable reports that this process cannot create network
// namespaces.
var ErrUnavailable = errors.New("netns: network namespaces unavailable")

// runDir is the folder of the files that name namespaces for ip netns.
const runDir = "/run/netns"

// linkTimeout bounds the wait for a link to start running.
const linkTimeout = 10 * time.Second

// Check returns nil if this process can create namespaces, which needs
// root and the ip command.
func Check() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: need root, running as uid %d", ErrUnavailable, os.Geteuid())
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("%w: no ip command (install iproute2): %v", ErrUnavailable, err)
	}
	return nil
}

var labCount atomic.Int64

// Valid prefixes and names. A prefix has no dash, so that the process ID
// after it can be parsed back out of a namespace name.
var (
	validPrefix = regexp.MustCompile(`^[a-zA-Z0-9_]{1,32}$`)
	validName   = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,32}$`)
)

// Lab is a set of namespaces created together and deleted together.
type Lab struct {
	prefix string // "<prefix>-<pid>-<lab>-"

	mu         sync.Mutex // guards namespaces and closed
	namespaces []string   // full names, in creation order
	closed     bool
}

// New returns an empty lab. Its namespace names start with prefix, which
// must be 1 to 32 letters, digits or underscores. It first deletes
// namespaces named by an earlier process with the same prefix that no
// longer runs, such as a test binary that was killed.
func New(prefix string) (*Lab, error) {
	if err := Check(); err != nil {
		return nil, err
	}
	if !validPrefix.MatchString(prefix) {
		return nil, fmt.Errorf("netns: invalid prefix %q: use 1 to 32 letters, digits or underscores", prefix)
	}
	removeStale(prefix)
	return &Lab{prefix: fmt.Sprintf("%s-%d-%d-", prefix, os.Getpid(), labCount.Add(1))}, nil
}

// removeStale deletes namespaces named "<prefix>-<pid>-..." whose process
// is gone. It ignores errors, because what remains is only clutter.
func removeStale(prefix string) {
	entries, err := os.ReadDir(runDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix+"-")
		if !ok {
			continue
		}
		pidText, _, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if !ok || err != nil || pid == os.Getpid() {
			continue
		}
		if _, err := os.Stat("/proc/" + pidText); errors.Is(err, os.ErrNotExist) {
			ip(context.Background(), "netns", "delete", e.Name())
		}
	}
}

// Bridge is a Linux bridge named br0 in a namespace of its own.
type Bridge struct {
	ns    *Namespace
	mu    sync.Mutex // guards ports
	ports int
}

// BridgeName is the name of the bridge inside its namespace.
const BridgeName = "br0"

// Bridge creates a namespace holding a bridge. Multicast snooping is off,
// so the bridge floods multicast to every port instead of waiting for MLD
// and IGMP reports, which makes IPv6 multicast work from the first packet.
func (l *Lab) Bridge(name string) (*Bridge, error) {
	ns, err := l.Namespace(name)
	if err != nil {
		return nil, err
	}
	err = ns.IP("link", "add", BridgeName, "type", "bridge", "mcast_snooping", "0", "forward_delay", "0")
	if err == nil {
		err = ns.IP("link", "set", BridgeName, "up")
	}
	if err != nil {
		return nil, fmt.Errorf("netns: create bridge %s: %w", name, err)
	}
	return &Bridge{ns: ns}, nil
}

// Namespace returns the namespace that holds the bridge, for capturing
// traffic or changing the bridge.
func (b *Bridge) Namespace() *Namespace { return b.ns }

// nextPort returns a fresh name for the bridge end of a veth pair.
func (b *Bridge) nextPort() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ports++
	return fmt.Sprintf("port%d", b.ports)
}

// Namespace creates a network namespace with its loopback interface up.
// Duplicate address detection for IPv6 is off in it, so IPv6 addresses,
// link-local ones included, can be used as soon as their link is up
// instead of one to two seconds later.
func (l *Lab) Namespace(name string) (*Namespace, error) {
	if !validName.MatchString(name) {
		return nil, fmt.Errorf("netns: invalid name %q: use 1 to 32 letters, digits, dashes or underscores", name)
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, fmt.Errorf("netns: lab %s is closed", l.prefix)
	}
	ns := &Namespace{name: l.prefix + name}
	l.namespaces = append(l.namespaces, ns.name)
	l.mu.Unlock()

	if err := ip(context.Background(), "netns", "add", ns.name); err != nil {
		return nil, err
	}
	if err := ns.IP("link", "set", "lo", "up"); err != nil {
		return nil, err
	}
	for _, key := range []string{"net.ipv6.conf.all.accept_dad", "net.ipv6.conf.default.accept_dad"} {
		if err := ns.Sysctl(key, "0"); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err // a kernel without IPv6 has no such keys
		}
	}
	return ns, nil
}

// Close deletes every namespace of the lab, which destroys their links
// too. A namespace in which a process still runs lives on, without its
// name, until that process exits, so stop commands before Close. Close is
// safe to call more than once.
func (l *Lab) Close() error {
	l.mu.Lock()
	names := l.namespaces
	l.namespaces, l.closed = nil, true
	l.mu.Unlock()

	var errs []error
	for i := len(names) - 1; i >= 0; i-- {
		if _, err := os.Stat(runDir + "/" + names[i]); errors.Is(err, os.ErrNotExist) {
			continue // creation failed half way
		}
		errs = append(errs, ip(context.Background(), "netns", "delete", names[i]))
	}
	return errors.Join(errs...)
}

// Namespace is one network namespace of a lab: a virtual host.
type Namespace struct {
	name string
}

// Name returns the full name, as ip netns lists it.
func (n *Namespace) Name() string { return n.name }

// AttachTo connects the namespace to br with a veth pair whose end in the
// namespace is called ifname (at most 15 bytes), assigns addrs to it and
// sets both ends up.
func (n *Namespace) AttachTo(br *Bridge, ifname string, addrs ...netip.Prefix) error {
	if len(ifname) == 0 || len(ifname) > 15 {
		return fmt.Errorf("netns: interface name %q must be 1 to 15 bytes", ifname)
	}
	port := br.nextPort()
	if err := n.IP("link", "add", ifname, "type", "veth", "peer", "name", port, "netns", br.ns.name); err != nil {
		return err
	}
	if err := br.ns.IP("link", "set", port, "master", BridgeName, "up"); err != nil {
		return err
	}
	for _, a := range addrs {
		if err := n.AddAddr(ifname, a); err != nil {
			return err
		}
	}
	if err := n.SetLinkUp(ifname, true); err != nil {
		return err
	}
	return br.ns.waitRunning(port)
}

// AddAddr assigns an address with its prefix length to a link.
func (n *Namespace) AddAddr(ifname string, addr netip.Prefix) error {
	return n.IP("addr", "add", addr.String(), "dev", ifname)
}

// AddRoute adds a route to dst through the gateway via.
func (n *Namespace) AddRoute(dst netip.Prefix, via netip.Addr) error {
	return n.IP("route", "add", dst.String(), "via", via.String())
}

// SetLinkUp sets a link up or down, as unplugging a cable would. Setting
// it up waits until the link can carry traffic.
func (n *Namespace) SetLinkUp(ifname string, up bool) error {
	if !up {
		return n.IP("link", "set", ifname, "down")
	}
	if err := n.IP("link", "set", ifname, "up"); err != nil {
		return err
	}
	return n.waitRunning(ifname)
}

// waitRunning waits until a link that was set up is running. Linux marks
// a link running, and gives it a queue to send with, only when its link
// watch work runs, up to a second after the link was set up. Until then
// every packet sent on it is dropped.
func (n *Namespace) waitRunning(ifname string) error {
	deadline := time.Now().Add(linkTimeout)
	for {
		var running bool
		err := n.Do(func() error {
			ifi, err := net.InterfaceByName(ifname)
			running = err == nil && ifi.Flags&net.FlagRunning != 0
			return err
		})
		if err != nil {
			return fmt.Errorf("netns: %s: link %s: %w", n.name, ifname, err)
		}
		if running {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("netns: %s: link %s not running %v after it was set up", n.name, ifname, linkTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Sysctl sets a kernel parameter of the namespace, such as
// "net.ipv4.ip_forward" for a router between two bridges. Only the
// parameters under net. belong to a namespace.
func (n *Namespace) Sysctl(key, value string) error {
	path := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
	return n.Do(func() error {
		if err := os.WriteFile(path, []byte(value), 0); err != nil {
			return fmt.Errorf("netns: %s: set %s=%s: %w", n.name, key, value, err)
		}
		return nil
	})
}

// IP runs "ip -n NAME args..." and returns an error with ip's output if it
// fails.
func (n *Namespace) IP(args ...string) error {
	return ip(context.Background(), append([]string{"-n", n.name}, args...)...)
}

// Command returns a command that runs name with args inside the namespace,
// through "ip netns exec". ip replaces itself with the program, so
// killing the command's process kills the program.
func (n *Namespace) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.name, name}, args...)...)
}

// Run runs a command inside the namespace and returns its combined output.
func (n *Namespace) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	out, err := n.Command(ctx, name, args...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("netns: %s: %s %s: %w: %s", n.name, name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return out, nil
}

func ip(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("netns: ip %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}
