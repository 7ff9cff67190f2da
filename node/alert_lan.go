package node

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/yuinet/yui/alert"
	"github.com/yuinet/yui/network/wire"
)

// alertPortOffset places the alert broadcast port after the discovery
// port: 4720 by default.
const alertPortOffset = 2

// alertLAN broadcasts each newly accepted alert on every IPv4 LAN as one
// UDP datagram, and feeds the alerts it hears to the Machine. It reaches
// neighbours that the overlay has not connected yet, or whose QUIC
// connection is broken, in one hop and with no handshake. The datagram is
// a wire-encoded AlertPush of one alert, at most about 4 KiB, so IP
// fragments it on most links; LANs deliver fragments fine.
//
// A broadcast has no authenticated sender, but the alert inside is signed,
// so the Machine's checks apply as to any alert. Only the sender's rate
// limit is keyed by the source address instead of a node ID. Nothing is
// sent back over this path: summaries and repairs go over QUIC.
//
// NOTE: a node hears its own broadcasts and those of other nodes on the
// same host; the Machine drops them as duplicates, so they show up in the
// received and duplicate counters.
type alertLAN struct {
	log  *slog.Logger
	port int
	conn *net.UDPConn
	svc  *alertService
	done chan struct{}
}

func startAlertLAN(log *slog.Logger, port int, svc *alertService) (*alertLAN, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var sockErr error
		err := c.Control(func(fd uintptr) {
			// Several nodes on one host share the port, and each gets a
			// copy of every broadcast.
			for _, opt := range []int{unix.SO_REUSEADDR, unix.SO_REUSEPORT, unix.SO_BROADCAST} {
				if sockErr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, opt, 1); sockErr != nil {
					return
				}
			}
		})
		return errors.Join(err, sockErr)
	}}
	pc, err := lc.ListenPacket(context.Background(), "udp4", "0.0.0.0:"+strconv.Itoa(port))
	if err != nil {
		return nil, fmt.Errorf("node: alert broadcast port %d: %w", port, err)
	}
	l := &alertLAN{log: log, port: port, conn: pc.(*net.UDPConn), svc: svc, done: make(chan struct{})}
	go l.read()
	return l, nil
}

func (l *alertLAN) close() {
	l.conn.Close()
	<-l.done
}

// broadcast sends one signed alert to the broadcast address of every IPv4
// LAN this host is on.
func (l *alertLAN) broadcast(raw []byte) {
	b, err := wire.Encode(0, &wire.AlertPush{Alerts: [][]byte{raw}})
	if err != nil {
		l.log.Error("alert not encoded for broadcast", "err", err)
		return
	}
	for _, dst := range broadcastAddrs() {
		to := net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, uint16(l.port)))
		if _, err := l.conn.WriteToUDP(b, to); err != nil {
			l.log.Debug("alert broadcast failed", "to", to, "err", err)
		}
	}
}

func (l *alertLAN) read() {
	defer close(l.done)
	buf := make([]byte, wire.MaxAlertSize+1024)
	for {
		n, src, err := l.conn.ReadFromUDPAddrPort(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			l.log.Debug("alert broadcast read failed", "err", err)
			continue
		}
		_, msg, err := wire.Decode(buf[:n])
		push, ok := msg.(*wire.AlertPush)
		if err != nil || !ok {
			l.log.Debug("alert broadcast dropped", "from", src, "err", err)
			continue
		}
		l.svc.handleBroadcast(lanSender(src.Addr()), push)
	}
}

// lanSender names the sender of a broadcast by its source address, for
// the Machine's rate limit.
func lanSender(addr netip.Addr) alert.Peer {
	return alert.Peer(sha256.Sum256([]byte("yui alert broadcast from " + addr.Unmap().String())))
}

// broadcastAddrs returns the IPv4 broadcast address of every up,
// broadcast-capable, non-loopback interface.
func broadcastAddrs() []netip.Addr {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var list []netip.Addr
	for _, ifi := range ifaces {
		if ifi.Flags&net.FlagUp == 0 || ifi.Flags&net.FlagBroadcast == 0 || ifi.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifi.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipnet, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipnet.IP.To4())
			ones, bits := ipnet.Mask.Size()
			if !ok || bits != 32 || ones >= 31 {
				continue
			}
			v := ip.As4()
			host := uint32(1)<<(32-ones) - 1
			n := uint32(v[0])<<24 | uint32(v[1])<<16 | uint32(v[2])<<8 | uint32(v[3]) | host
			list = append(list, netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}))
		}
	}
	return list
}
