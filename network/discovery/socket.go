package discovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// listenShared binds the beacon port on every address, with SO_REUSEADDR
// and SO_REUSEPORT so that several nodes on one host can bind it.
//
// On Linux (checked on 6.18) every socket bound this way receives its own
// copy of each broadcast or multicast datagram, but a unicast datagram
// goes to only one of them, chosen by a hash of its addresses. That is why
// nodes send beacons and replies from a private socket (see
// listenPrivate). A unicast reply goes to the private port of the node it
// replies to, never to the shared port. Linux lets only sockets of one user share a
// port with SO_REUSEPORT, so nodes run by different users cannot share it.
func listenShared(network string, port int) (*net.UDPConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		return setSockopts(c, network == "udp4", unix.SO_REUSEADDR, unix.SO_REUSEPORT)
	}}
	host := "0.0.0.0"
	if network == "udp6" {
		host = "::"
	}
	return listen(lc, network, net.JoinHostPort(host, fmt.Sprint(port)))
}

// listenPrivate binds an ephemeral port that beacons are sent from, so
// that unicast replies reach this node alone.
func listenPrivate(network string) (*net.UDPConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		return setSockopts(c, network == "udp4")
	}}
	host := "0.0.0.0:0"
	if network == "udp6" {
		host = "[::]:0"
	}
	return listen(lc, network, host)
}

func listen(lc net.ListenConfig, network, addr string) (*net.UDPConn, error) {
	pc, err := lc.ListenPacket(context.Background(), network, addr)
	if err != nil {
		return nil, err
	}
	return pc.(*net.UDPConn), nil
}

// setSockopts turns on the given boolean socket options, and SO_BROADCAST
// for IPv4 sockets, which Linux requires before sending to a broadcast
// address.
func setSockopts(c syscall.RawConn, broadcast bool, opts ...int) error {
	if broadcast {
		opts = append(opts, unix.SO_BROADCAST)
	}
	var sockErr error
	err := c.Control(func(fd uintptr) {
		for _, opt := range opts {
			if sockErr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, opt, 1); sockErr != nil {
				return
			}
		}
	})
	return errors.Join(err, sockErr)
}

// joinGroup subscribes conn to group on the interface with the given
// index. Joining twice is not an error: an interface that went down and up
// again may keep its memberships.
func joinGroup(conn *net.UDPConn, group netip.Addr, ifindex int) error {
	raw, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	mreq := &unix.IPv6Mreq{Multiaddr: group.As16(), Interface: uint32(ifindex)}
	var sockErr error
	err = raw.Control(func(fd uintptr) {
		sockErr = unix.SetsockoptIPv6Mreq(int(fd), unix.IPPROTO_IPV6, unix.IPV6_JOIN_GROUP, mreq)
	})
	if errors.Is(sockErr, unix.EADDRINUSE) {
		sockErr = nil
	}
	return errors.Join(err, sockErr)
}
