package wire

import (
	"fmt"
	"net/netip"

	"github.com/yuinet/yui/network/identity"
)

// Message types of the overlay (routing) protocol. Codes are part of the
// protocol: never reuse or renumber one.
const (
	TypePing     Type = 1
	TypePong     Type = 2
	TypeFindNode Type = 3
	TypeNodes    Type = 4
	TypeLeave    Type = 5
	TypeError    Type = 6
)

var typeNames = map[Type]string{
	TypePing:     "ping",
	TypePong:     "pong",
	TypeFindNode: "find-node",
	TypeNodes:    "nodes",
	TypeLeave:    "leave",
	TypeError:    "error",

	TypeGroupSync:    "group-sync",
	TypeGroupState:   "group-state",
	TypeForward:      "forward",
	TypeForwardAck:   "forward-ack",
	TypeLookupAnswer: "lookup-answer",
	TypeReferral:     "referral",

	TypePutShard:     "put-shard",
	TypeAck:          "ack",
	TypeGetShard:     "get-shard",
	TypeShardData:    "shard-data",
	TypeListShards:   "list-shards",
	TypeShardIndexes: "shard-indexes",
	TypePutRecord:    "put-record",
	TypeGetRecord:    "get-record",
	TypeRecordData:   "record-data",
	TypeListRecords:  "list-records",
	TypeRecordPage:   "record-page",
	TypePutNamespace: "put-namespace",
	TypeGetNamespace: "get-namespace",
	TypeNamespace:    "namespace",

	TypeAlertPush:    "alert-push",
	TypeAlertSummary: "alert-summary",

	TypeIndexAdd:     "index-add",
	TypeIndexLookup:  "index-lookup",
	TypeIndexEntries: "index-entries",
}

// String returns the type's name, as used in logs and metrics labels.
func (t Type) String() string {
	if name, ok := typeNames[t]; ok {
		return name
	}
	return fmt.Sprintf("type-%d", uint16(t))
}

// Types returns every known message type, for metrics and tests.
func Types() []Type {
	types := make([]Type, 0, len(typeNames))
	for t := range typeNames {
		types = append(types, t)
	}
	return types
}

func newMessage(t Type) Message {
	switch t {
	case TypePing:
		return new(Ping)
	case TypePong:
		return new(Pong)
	case TypeFindNode:
		return new(FindNode)
	case TypeNodes:
		return new(Nodes)
	case TypeLeave:
		return new(Leave)
	case TypeError:
		return new(Error)
	}
	if msg := newHierarchyMessage(t); msg != nil {
		return msg
	}
	if msg := newAlertMessage(t); msg != nil {
		return msg
	}
	if msg := newSearchMessage(t); msg != nil {
		return msg
	}
	if msg := newMsgMessage(t); msg != nil {
		return msg
	}
	if msg := newJobMessage(t); msg != nil {
		return msg
	}
	return newStorageMessage(t)
}

// Contact is how to reach a node: its ID and a UDP address it listens on.
type Contact struct {
	_    struct{} `cbor:",toarray"`
	ID   identity.NodeID
	Addr netip.AddrPort
}

// Validate checks that the contact names a node and a usable address.
func (c Contact) Validate() error {
	if c.ID.IsZero() {
		return fmt.Errorf("contact has the zero node ID")
	}
	if !c.Addr.IsValid() || c.Addr.Port() == 0 {
		return fmt.Errorf("contact %s has invalid address %q", c.ID.Short(), c.Addr)
	}
	if a := c.Addr.Addr(); a.IsUnspecified() || a.IsMulticast() {
		return fmt.Errorf("contact %s has unroutable address %s", c.ID.Short(), a)
	}
	return nil
}

// String returns "id@addr" with the short form of the ID.
func (c Contact) String() string { return c.ID.Short() + "@" + c.Addr.String() }

func validateContacts(field string, contacts []Contact, limit int) error {
	if len(contacts) > limit {
		return fmt.Errorf("%s has %d contacts, limit %d", field, len(contacts), limit)
	}
	for i, c := range contacts {
		if err := c.Validate(); err != nil {
			return fmt.Errorf("%s[%d]: %v", field, i, err)
		}
	}
	return nil
}

// Ping asks a node whether it is alive.
type Ping struct{}

// Pong answers a Ping. Observed is the address the request came from, so a
// node learns how others see it.
type Pong struct {
	Observed netip.AddrPort `cbor:"1,keyasint,omitempty"`
}

// FindNode asks a node for the contacts it knows closest to Target. Path
// lists the nodes that led the sender to this node during an iterative
// lookup, nearest hop last, so the receiver may learn them too.
type FindNode struct {
	Target identity.NodeID `cbor:"1,keyasint"`
	Path   []Contact       `cbor:"2,keyasint,omitempty"`
}

// Nodes answers a FindNode with up to k contacts, closest first.
type Nodes struct {
	Contacts []Contact `cbor:"1,keyasint,omitempty"`
}

// Leave tells a contact that the sender is shutting down, so it can drop
// the sender at once instead of waiting for requests to time out.
type Leave struct{}

// Error answers a request that the receiver could not serve.
type Error struct {
	Code    ErrorCode `cbor:"1,keyasint"`
	Message string    `cbor:"2,keyasint,omitempty"`
}

// ErrorCode classifies an Error response.
type ErrorCode uint16

// Error codes.
const (
	CodeInternal    ErrorCode = 1
	CodeBadRequest  ErrorCode = 2
	CodeUnsupported ErrorCode = 3
	CodeOverloaded  ErrorCode = 4
)

// MaxErrorMessage is the longest error text a peer may send, in bytes.
const MaxErrorMessage = 1024

func (*Ping) Type() Type     { return TypePing }
func (*Pong) Type() Type     { return TypePong }
func (*FindNode) Type() Type { return TypeFindNode }
func (*Nodes) Type() Type    { return TypeNodes }
func (*Leave) Type() Type    { return TypeLeave }
func (*Error) Type() Type    { return TypeError }

func (*Ping) Validate() error  { return nil }
func (*Leave) Validate() error { return nil }

func (m *Pong) Validate() error {
	if m.Observed != (netip.AddrPort{}) && !m.Observed.IsValid() {
		return fmt.Errorf("invalid observed address %q", m.Observed)
	}
	return nil
}

func (m *FindNode) Validate() error { return validateContacts("path", m.Path, MaxPath) }

func (m *Nodes) Validate() error { return validateContacts("contacts", m.Contacts, MaxContacts) }

func (m *Error) Validate() error {
	if len(m.Message) > MaxErrorMessage {
		return fmt.Errorf("error text is %d bytes, limit %d", len(m.Message), MaxErrorMessage)
	}
	return nil
}

// Error implements the error interface, so a peer's Error response can be
// returned as a Go error.
func (m *Error) Error() string {
	return fmt.Sprintf("peer error %d: %s", m.Code, m.Message)
}
