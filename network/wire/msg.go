package wire

import "fmt"

// Message types of user-to-user messaging. A MsgDeliver carries signed
// messages and delivery receipts, as the message package encodes them,
// to the recipient's node or to custodians that hold them for it; the
// receiver answers with a MsgAck. UserAnnounce publishes where a user is
// now, and UserLocate asks for it. Codes are part of the protocol: never
// reuse or renumber one.
const (
	TypeMsgDeliver   Type = 80
	TypeMsgAck       Type = 81
	TypeUserAnnounce Type = 82
	TypeUserLocate   Type = 83
	TypeUserLocation Type = 84
)

// Limits of the messaging messages, far above what an honest peer sends.
const (
	// MaxMsgItemSize is the largest signed message or receipt in bytes;
	// it leaves room for a 16 KiB text with its keys and signature.
	MaxMsgItemSize = 24 << 10
	// MaxMsgBatch is the most items one MsgDeliver may carry.
	MaxMsgBatch = 64
	// MaxLocationSize is the largest signed location record in bytes.
	MaxLocationSize = 1024
	// MaxMsgResultText is the longest text of one MsgResult in bytes.
	MaxMsgResultText = 512
)

// MsgCode is the outcome of one item of a MsgDeliver, or of a
// UserAnnounce.
type MsgCode uint16

// Outcomes of a delivered item.
const (
	// MsgAccepted: the node stored the item, in a local user's inbox or
	// among the items it holds for others.
	MsgAccepted MsgCode = 0
	// MsgDuplicate: the node already had the item. The sender treats it
	// as accepted.
	MsgDuplicate MsgCode = 1
	// MsgForged: the signature does not verify, or the item does not
	// decode. The item is dropped.
	MsgForged MsgCode = 2
	// MsgFull: holding the item would exceed the node's quota, for all
	// senders or for this sender. Text states which limit.
	MsgFull MsgCode = 3
	// MsgNotHere: the item was delivered as final, but its recipient is
	// not a user of this node.
	MsgNotHere MsgCode = 4
	// MsgExpired: the item expired, or expires too far ahead.
	MsgExpired MsgCode = 5
)

// The names of the messaging types join typeNames here, so that this file
// alone lists the messaging protocol.
func init() {
	for t, name := range map[Type]string{
		TypeMsgDeliver:   "msg-deliver",
		TypeMsgAck:       "msg-ack",
		TypeUserAnnounce: "user-announce",
		TypeUserLocate:   "user-locate",
		TypeUserLocation: "user-location",
	} {
		typeNames[t] = name
	}
}

func newMsgMessage(t Type) Message {
	switch t {
	case TypeMsgDeliver:
		return new(MsgDeliver)
	case TypeMsgAck:
		return new(MsgAck)
	case TypeUserAnnounce:
		return new(UserAnnounce)
	case TypeUserLocate:
		return new(UserLocate)
	case TypeUserLocation:
		return new(UserLocation)
	}
	return nil
}

// MsgDeliver hands a node signed items. With Hold unset the node is the
// recipient's node and stores each item for its local user; with Hold set
// it is a custodian, which keeps each item until it expires or reaches
// the recipient's node. The wire layer checks only sizes; the receiver
// verifies each signature.
type MsgDeliver struct {
	Items [][]byte `cbor:"1,keyasint"`
	Hold  bool     `cbor:"2,keyasint,omitempty"`
}

// MsgAck answers a MsgDeliver with one result per item, in order, or a
// UserAnnounce with one result.
type MsgAck struct {
	Results []MsgResult `cbor:"1,keyasint"`
}

// MsgResult is the outcome of one item.
type MsgResult struct {
	_    struct{} `cbor:",toarray"`
	Code MsgCode
	// Text explains a code other than MsgAccepted, for the sender's user.
	Text string
}

// UserAnnounce publishes a signed record that places a user at a node.
// The nodes closest to the user's overlay key keep it, and push the items
// they hold for the user to that node.
type UserAnnounce struct {
	Record []byte `cbor:"1,keyasint"`
}

// UserLocate asks a node for the location record it keeps for the user
// whose overlay key is User.
type UserLocate struct {
	User Hash `cbor:"1,keyasint"`
}

// UserLocation answers a UserLocate. Record is empty when the node keeps
// no current record.
type UserLocation struct {
	Record []byte `cbor:"1,keyasint,omitempty"`
}

func (*MsgDeliver) Type() Type   { return TypeMsgDeliver }
func (*MsgAck) Type() Type       { return TypeMsgAck }
func (*UserAnnounce) Type() Type { return TypeUserAnnounce }
func (*UserLocate) Type() Type   { return TypeUserLocate }
func (*UserLocation) Type() Type { return TypeUserLocation }

func (m *MsgDeliver) Validate() error {
	if len(m.Items) == 0 || len(m.Items) > MaxMsgBatch {
		return fmt.Errorf("message delivery carries %d items, want 1 to %d", len(m.Items), MaxMsgBatch)
	}
	for i, it := range m.Items {
		if len(it) == 0 || len(it) > MaxMsgItemSize {
			return fmt.Errorf("items[%d] is %d bytes, want 1 to %d", i, len(it), MaxMsgItemSize)
		}
	}
	return nil
}

func (m *MsgAck) Validate() error {
	if len(m.Results) > MaxMsgBatch {
		return fmt.Errorf("message ack carries %d results, limit %d", len(m.Results), MaxMsgBatch)
	}
	for i, r := range m.Results {
		if len(r.Text) > MaxMsgResultText {
			return fmt.Errorf("results[%d] text is %d bytes, limit %d", i, len(r.Text), MaxMsgResultText)
		}
	}
	return nil
}

func (m *UserAnnounce) Validate() error {
	if len(m.Record) == 0 || len(m.Record) > MaxLocationSize {
		return fmt.Errorf("user announce record is %d bytes, want 1 to %d", len(m.Record), MaxLocationSize)
	}
	return nil
}

func (m *UserLocate) Validate() error { return nil }

func (m *UserLocation) Validate() error {
	if len(m.Record) > MaxLocationSize {
		return fmt.Errorf("user location record is %d bytes, limit %d", len(m.Record), MaxLocationSize)
	}
	return nil
}
