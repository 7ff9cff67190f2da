package wire

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/yuinet/yui/network/identity"
)

// Message types of the hierarchical overlay: group upkeep inside one
// broadcast domain, and lookups that members forward to their group's
// representatives. Codes are part of the protocol: never reuse or
// renumber one.
const (
	TypeGroupSync    Type = 10
	TypeGroupState   Type = 11
	TypeForward      Type = 12
	TypeForwardAck   Type = 13
	TypeLookupAnswer Type = 14
	TypeReferral     Type = 15
)

// Limits of the hierarchy messages, far above what an honest peer sends.
const (
	// MaxGroupMembers is the most member records one message may carry,
	// and so the largest group a node keeps.
	MaxGroupMembers = 256
	// MaxSeeds is the most DHT contacts one member record may carry.
	MaxSeeds = 4
)

func newHierarchyMessage(t Type) Message {
	switch t {
	case TypeGroupSync:
		return new(GroupSync)
	case TypeGroupState:
		return new(GroupState)
	case TypeForward:
		return new(Forward)
	case TypeForwardAck:
		return new(ForwardAck)
	case TypeLookupAnswer:
		return new(LookupAnswer)
	case TypeReferral:
		return new(Referral)
	}
	return nil
}

// Member is one node's record of itself as its group passes it on: the
// node alone writes it, and Version orders its copies, so a receiver keeps
// the copy with the highest Version.
type Member struct {
	_ struct{} `cbor:",toarray"`
	// Contact.Addr is the zero AddrPort in a node's own record when the
	// node does not know the address others reach it at; the receiver
	// then takes the address the message came from.
	Contact Contact
	// Version rises every time the node changes the record's content:
	// its address, score, role or seeds. It is taken from the node's
	// wall clock in milliseconds.
	Version uint64
	// Beat is the node's heartbeat: milliseconds from when the node
	// wrote Version to its latest gossip round. It rises every round
	// while Version stays, so a heartbeat travels in a Heartbeat without
	// the record.
	Beat uint64
	// Uptime is in seconds as of Version, so the uptime as of Beat is
	// Uptime + Beat/1000. Capacity and Link are the node's
	// self-assessment, in the units of hierarchy.Score.
	Uptime   uint64
	Capacity uint32
	Link     uint32
	// Representative is set while the node represents its group in the
	// global DHT.
	Representative bool
	// Seeds are DHT participants outside the group that the node knows,
	// so that a member elected later can join the DHT through them.
	Seeds []Contact
}

// Validate checks the record's contact and seeds.
func (m *Member) Validate() error {
	if err := validateSender(m.Contact); err != nil {
		return err
	}
	return validateContacts("seeds", m.Seeds, MaxSeeds)
}

// validateSender checks the contact of a message's sender, which may leave
// its address zero for the receiver to take from the message's source.
func validateSender(c Contact) error {
	if c.Addr == (netip.AddrPort{}) {
		if c.ID.IsZero() {
			return fmt.Errorf("contact has the zero node ID")
		}
		return nil
	}
	return c.Validate()
}

func validateGroup(members []Member, digest []Heartbeat) error {
	if len(digest) > MaxGroupMembers {
		return fmt.Errorf("%d heartbeats in the digest, limit %d", len(digest), MaxGroupMembers)
	}
	return validateMembers(members)
}

func validateMembers(members []Member) error {
	if len(members) > MaxGroupMembers {
		return fmt.Errorf("%d member records, limit %d", len(members), MaxGroupMembers)
	}
	for i := range members {
		if err := members[i].Validate(); err != nil {
			return fmt.Errorf("members[%d]: %v", i, err)
		}
	}
	return nil
}

// GroupSync is a group member's periodic exchange with another member of
// its broadcast domain. Digest names every live record the sender holds,
// its own included, by Version and heartbeat. Members carries in full
// only the records the receiver may lack, such as those changed lately.
// The response returns the records the receiver holds newer.
type GroupSync struct {
	Members []Member    `cbor:"1,keyasint,omitempty"`
	Digest  []Heartbeat `cbor:"2,keyasint,omitempty"`
}

// GroupState is the response to a GroupSync. Members holds the receiver's records
// that the request named at a lower Version or not at all, and Digest
// the heartbeats it holds newer for records of the same Version.
type GroupState struct {
	Members []Member    `cbor:"1,keyasint,omitempty"`
	Digest  []Heartbeat `cbor:"2,keyasint,omitempty"`
}

// Heartbeat is a digest entry: the Version and Beat of a member record
// the sender holds, without the record. Prefix is the first 8 bytes of
// the member's node ID, big-endian, which distinguishes the few hundred
// members of a group at a quarter of the ID's size.
type Heartbeat struct {
	_       struct{} `cbor:",toarray"`
	Prefix  uint64
	Version uint64
	Beat    uint64
}

// IDPrefix returns the Prefix under which a Heartbeat names id.
func IDPrefix(id identity.NodeID) uint64 { return binary.BigEndian.Uint64(id[:8]) }

// Forward asks a representative to run a lookup for a member, which is not
// in the DHT. Path lists the nodes the request has passed, the member that
// started the lookup first; a node that relays the request appends itself.
// The last hop, the sender, may leave its address zero as in Member.
// The result comes back later as a LookupAnswer to Path[0] with the same
// Token.
type Forward struct {
	Token  uint64          `cbor:"1,keyasint"`
	Target identity.NodeID `cbor:"2,keyasint"`
	Path   []Contact       `cbor:"3,keyasint"`
}

// ForwardAck answers a Forward that the receiver took on.
type ForwardAck struct{}

// LookupAnswer carries the result of a forwarded lookup to the member that
// started it. Hops counts the steps of the iterative lookup alone.
type LookupAnswer struct {
	Token   uint64    `cbor:"1,keyasint"`
	Closest []Contact `cbor:"2,keyasint,omitempty"`
	Hops    uint8     `cbor:"3,keyasint,omitempty"`
	Queried uint16    `cbor:"4,keyasint,omitempty"`
	Failed  uint16    `cbor:"5,keyasint,omitempty"`
}

// Referral answers a routing request (Ping, FindNode or Forward) sent to a
// node that takes no part in the DHT. Contacts are the representatives of
// its group, which do.
type Referral struct {
	Contacts []Contact `cbor:"1,keyasint,omitempty"`
}

func (*GroupSync) Type() Type    { return TypeGroupSync }
func (*GroupState) Type() Type   { return TypeGroupState }
func (*Forward) Type() Type      { return TypeForward }
func (*ForwardAck) Type() Type   { return TypeForwardAck }
func (*LookupAnswer) Type() Type { return TypeLookupAnswer }
func (*Referral) Type() Type     { return TypeReferral }

func (m *GroupSync) Validate() error  { return validateGroup(m.Members, m.Digest) }
func (m *GroupState) Validate() error { return validateGroup(m.Members, m.Digest) }
func (*ForwardAck) Validate() error   { return nil }

func (m *Forward) Validate() error {
	if len(m.Path) == 0 {
		return fmt.Errorf("forward has an empty path: it must name the member that started it")
	}
	if err := validateContacts("path", m.Path[:len(m.Path)-1], MaxPath-1); err != nil {
		return err
	}
	if err := validateSender(m.Path[len(m.Path)-1]); err != nil {
		return fmt.Errorf("path[%d]: %v", len(m.Path)-1, err)
	}
	return nil
}

func (m *LookupAnswer) Validate() error { return validateContacts("closest", m.Closest, MaxContacts) }

func (m *Referral) Validate() error { return validateContacts("contacts", m.Contacts, MaxContacts) }
