package discovery

import (
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/network/wire"
)

// read receives datagrams on conn until it is closed, verifies them and
// hands the beacons of other nodes of this network to the run goroutine.
// Signatures are checked here, on one goroutine per socket, so that a
// flood of datagrams delays neither the other sockets nor the run
// goroutine's periodic beacons.
func (d *Discoverer) read(conn *net.UDPConn) {
	defer d.wg.Done()
	// One byte more than the limit, so an oversized datagram shows as one
	// instead of being silently truncated to a size that fits.
	buf := make([]byte, MaxBeaconSize+1)
	for {
		n, src, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			d.log.Warn("receive failed", "socket", conn.LocalAddr(), "err", err)
			continue
		}
		d.stats.received.Add(1)
		d.receive(buf[:n], unmapSource(src))
	}
}

func unmapSource(src netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
}

func (d *Discoverer) receive(data []byte, src netip.AddrPort) {
	now := time.Now()
	b, err := decodeBeacon(data, d.cfg.Network, now, d.cfg.MaxClockSkew)
	if err != nil {
		d.stats.reject(err)
		d.log.Debug("beacon rejected", "from", src, "err", err)
		var skewErr *TimestampError
		if errors.As(err, &skewErr) {
			d.warnClockSkew(now, src, skewErr)
		}
		return
	}
	if b.ID == d.cfg.Identity.ID {
		d.receiveOwnID(now, b, src)
		return
	}
	select {
	case d.inbox <- arrival{beacon: b, src: src, at: now}:
	default:
		d.stats.inboxFull.Add(1)
	}
}

// receiveOwnID sorts a beacon with this node's ID. One with a sequence
// number this node sent is its own, come back over broadcast or
// multicast, or a replay of it. Any other was signed by another process
// that holds this node's key, usually because a data folder was copied.
// Such clones share one ID, so they cannot reach each other and their
// neighbours cannot tell them apart.
//
// NOTE: two clones that started within about as many microseconds as
// they have sent beacons use overlapping sequence numbers, and are taken
// for each other's echoes.
func (d *Discoverer) receiveOwnID(now time.Time, b *Beacon, src netip.AddrPort) {
	if b.Seq > d.firstSeq && b.Seq <= d.lastSeq.Load() {
		d.stats.own.Add(1)
		return
	}
	d.stats.clones.Add(1)
	if n, warn := d.cloneWarnings.note(now, src.Addr()); warn {
		d.log.Warn("another node sends beacons with this node's ID, so its data folder was probably copied from this one. "+
			"To fix it, stop one of the two, delete "+identity.KeyFile+" in its data folder and start it again to create a new ID",
			"from", src, "node", b.ID.Short(), "beacons", n)
	}
}

// warnClockSkew warns about beacons rejected for their timestamp, which
// would otherwise hide a node that is never discovered.
func (d *Discoverer) warnClockSkew(now time.Time, src netip.AddrPort, err *TimestampError) {
	n, warn := d.skewWarnings.note(now, src.Addr())
	if !warn {
		return
	}
	d.log.Warn("rejecting beacons because the sender's clock differs from this node's by more than the limit. "+
		"Correct the clock that is wrong, or raise the limit with --max-clock-skew",
		"from", src, "node", err.ID.Short(), "skew", err.Skew.Round(time.Millisecond), "limit", err.Limit, "beacons", n)
}

// handle reports the contact of a verified beacon and replies to it, as
// the peer table decides.
func (d *Discoverer) handle(a arrival) {
	v := d.peers.observe(a.at, a.beacon, a.src)
	if v.duplicate {
		d.stats.duplicate.Add(1)
		return
	}
	if v.limited {
		d.dropNewPeer(a)
		return
	}
	d.stats.accepted.Add(1)

	if v.report {
		d.report(a, v.reason)
	}
	if v.reply {
		d.reply(a.src, v.broadcast)
	}
}

// dropNewPeer counts and drops the beacon of a new peer beyond the limit
// of Config.MaxNewPeersPerSecond.
func (d *Discoverer) dropNewPeer(a arrival) {
	d.stats.newPeersDropped.Add(1)
	n, warn := d.newPeerWarnings.note(a.at, struct{}{})
	if !warn {
		return
	}
	d.log.Warn("dropping beacons of new peers beyond the limit. A host on the LAN may be sending beacons from many keys",
		"dropped", n, "limit_per_second", d.cfg.MaxNewPeersPerSecond, "burst", d.cfg.NewPeerBurst,
		"last_from", a.src, "last_node", a.beacon.ID.Short())
}

func (d *Discoverer) report(a arrival, reason reportReason) {
	c := wire.Contact{ID: a.beacon.ID, Addr: netip.AddrPortFrom(a.src.Addr(), a.beacon.ListenPort)}
	if err := c.Validate(); err != nil {
		d.stats.badSource.Add(1)
		d.log.Debug("beacon from unusable source address", "from", a.src, "err", err)
		return
	}
	select {
	case d.contacts <- c:
		d.stats.reported.Add(1)
		d.log.Debug("peer discovered", "peer", c, "reason", string(reason))
	default:
		d.stats.contactsDropped.Add(1)
	}
}

// reply sends one beacon straight back to src and, if the peer requested
// it, broadcasts the same beacon on the link it came in on, so that other
// nodes that joined together with the peer hear this node too.
func (d *Discoverer) reply(src netip.AddrPort, broadcast bool) {
	data, ok := d.encode(false)
	if !ok {
		return
	}
	d.send(src, data)
	if !broadcast {
		return
	}
	if l, ok := linkFor(d.links, src.Addr()); ok {
		d.sendOn(l, data)
	}
}

// sendBeacons sends one beacon on each of the links.
func (d *Discoverer) sendBeacons(links []link, replyRequested bool) {
	if len(links) == 0 {
		return
	}
	data, ok := d.encode(replyRequested)
	if !ok {
		return
	}
	for _, l := range links {
		d.sendOn(l, data)
	}
}

// sendOn sends data to every broadcast address of l and to the IPv6
// group on l.
func (d *Discoverer) sendOn(l link, data []byte) {
	port := uint16(d.cfg.Port)
	for _, b := range l.broadcasts {
		d.send(netip.AddrPortFrom(b, port), data)
	}
	if l.multicast && d.private6 != nil {
		d.send(netip.AddrPortFrom(multicastGroup.WithZone(l.name), port), data)
	}
}

// encode builds and signs the next beacon. Every beacon gets its own
// sequence number, so receivers can tell a new beacon from a copy.
func (d *Discoverer) encode(replyRequested bool) ([]byte, bool) {
	seq := d.lastSeq.Add(1)
	b := &Beacon{
		Network:        d.cfg.Network,
		ID:             d.cfg.Identity.ID,
		PublicKey:      d.cfg.Identity.Public,
		ListenPort:     uint16(d.cfg.ListenPort),
		ListenAddrs:    listenAddrs(d.links),
		Timestamp:      time.Now().UnixMilli(),
		Seq:            seq,
		ReplyRequested: replyRequested,
	}
	data, err := EncodeBeacon(b, d.cfg.Identity.Private)
	if err != nil {
		d.log.Error("encoding beacon failed", "err", err)
		return nil, false
	}
	return data, true
}

// send sends one datagram if the rate limit allows it. A target whose
// send fails is logged once at warning level until a send to it works.
func (d *Discoverer) send(dst netip.AddrPort, data []byte) {
	if !d.limiter.take(time.Now()) {
		d.stats.rateLimited.Add(1)
		return
	}
	conn := d.private4
	if dst.Addr().Is6() {
		conn = d.private6
	}
	if conn == nil {
		return
	}

	_, err := conn.WriteToUDPAddrPort(data, dst)
	if errors.Is(err, net.ErrClosed) {
		return // Close is under way
	}
	if err == nil {
		d.stats.sent.Add(1)
		if d.failing[dst] {
			delete(d.failing, dst)
			d.log.Info("sending beacons works again", "to", dst)
		}
		return
	}
	d.stats.sendErrors.Add(1)
	if !d.failing[dst] {
		d.failing[dst] = true
		d.log.Warn("sending beacon failed", "to", dst, "err", err)
		return
	}
	d.log.Debug("sending beacon failed", "to", dst, "err", err)
}
