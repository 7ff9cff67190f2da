package mqtt

import "fmt"

// connect is a decoded CONNECT packet.
type connect struct {
	version    byte
	clientID   string
	cleanStart bool
	// keepAlive is in seconds; zero turns the keep-alive check off.
	keepAlive uint16
	username  string
	hasUser   bool
	// maxPacket is the client's Maximum Packet Size (5.0), or zero for
	// no limit of its own.
	maxPacket uint32
	// sessionExpiry is the 5.0 Session Expiry Interval in seconds.
	sessionExpiry uint32
}

// errUnsupportedVersion reports a protocol level other than 4 or 5. The
// session replies with the 3.1.1 CONNACK code 1, as both standards
// require.
var errUnsupportedVersion = fmt.Errorf("%w: unsupported protocol version", ErrProtocol)

// decodeConnect decodes a CONNECT body.
func decodeConnect(body []byte) (connect, error) {
	d := &decoder{buf: body}
	name := d.string("protocol name")
	level := d.byte("protocol level")
	if d.err != nil {
		return connect{}, d.err
	}
	if name != "MQTT" && name != "MQIsdp" {
		return connect{}, fmt.Errorf("%w: protocol name %q, want MQTT", ErrProtocol, name)
	}
	if name == "MQIsdp" || level != version311 && level != version5 {
		return connect{}, fmt.Errorf("%w %d (%s): want 4 (3.1.1) or 5 (5.0)", errUnsupportedVersion, level, name)
	}

	c := connect{version: level}
	flags := d.byte("connect flags")
	c.keepAlive = d.uint16("keep alive")
	if flags&0x01 != 0 {
		d.fail("reserved connect flag is set")
	}
	c.cleanStart = flags&0x02 != 0
	if level == version5 {
		d.properties("CONNECT", func(id byte, v propertyValue) {
			switch id {
			case propMaxPacketSize:
				c.maxPacket = v.num
			case propSessionExpiry:
				c.sessionExpiry = v.num
			}
		})
	}
	c.clientID = d.string("client identifier")
	decodeWill(d, flags, level)
	if flags&0x80 != 0 {
		c.username, c.hasUser = d.string("user name"), true
	}
	if flags&0x40 != 0 {
		if level == version311 && !c.hasUser {
			d.fail("password flag set without the user name flag")
		}
		d.binary("password")
	}
	return c, d.done("CONNECT")
}

// decodeWill reads the will message, which the server does not keep.
func decodeWill(d *decoder, flags, level byte) {
	will := flags&0x04 != 0
	willQoS := flags >> 3 & 0x03
	switch {
	case !will && (willQoS != 0 || flags&0x20 != 0):
		d.fail("will QoS or retain set without the will flag")
	case willQoS == 3:
		d.fail("will QoS 3")
	}
	if !will {
		return
	}
	if level == version5 {
		d.properties("will", func(byte, propertyValue) {})
	}
	d.string("will topic")
	d.binary("will payload")
}

// Message is one message a client published.
type Message struct {
	Topic   string
	Payload []byte
	// QoS is 0 or 1.
	QoS byte
}

// publish is a decoded PUBLISH packet.
type publish struct {
	Message
	dup      bool
	packetID uint16
}

// decodePublish decodes a PUBLISH packet. QoS 2 fails with ErrProtocol,
// and so does a 5.0 topic alias, since CONNACK allows neither.
func decodePublish(p packet, version byte) (publish, error) {
	pub := publish{dup: p.flags&0x08 != 0}
	pub.QoS = p.flags >> 1 & 0x03
	switch {
	case pub.QoS == 3:
		return publish{}, fmt.Errorf("%w: PUBLISH with QoS 3", ErrMalformed)
	case pub.QoS == 2:
		return publish{}, fmt.Errorf("%w: QoS 2 is not supported: publish at QoS 0 or 1", ErrProtocol)
	case pub.QoS == 0 && pub.dup:
		return publish{}, fmt.Errorf("%w: PUBLISH with QoS 0 and the DUP flag", ErrMalformed)
	}

	d := &decoder{buf: p.body}
	pub.Topic = d.string("topic name")
	if pub.QoS > 0 {
		pub.packetID = d.uint16("packet identifier")
		if d.err == nil && pub.packetID == 0 {
			d.fail("packet identifier 0")
		}
	}
	alias := false
	if version == version5 {
		d.properties("PUBLISH", func(id byte, _ propertyValue) { alias = alias || id == propTopicAlias })
	}
	pub.Payload = d.rest()
	if d.err != nil {
		return publish{}, d.err
	}
	if alias {
		return publish{}, fmt.Errorf("%w: topic aliases are not supported (Topic Alias Maximum is 0)", ErrProtocol)
	}
	if err := validateTopicName(pub.Topic); err != nil {
		return publish{}, err
	}
	return pub, nil
}

// subscription is one topic filter of a SUBSCRIBE packet.
type subscription struct {
	filter string
	// qos is the maximum QoS requested.
	qos byte
}

// decodeSubscribe decodes a SUBSCRIBE body. An invalid filter does not
// fail the packet; the session rejects it in SUBACK.
func decodeSubscribe(body []byte, version byte) (uint16, []subscription, error) {
	d := &decoder{buf: body}
	id := d.uint16("packet identifier")
	if version == version5 {
		d.properties("SUBSCRIBE", func(byte, propertyValue) {})
	}
	var subs []subscription
	for d.err == nil && len(d.buf) > 0 {
		filter := d.string("topic filter")
		opts := d.byte("subscription options")
		reserved := byte(0xfc)
		if version == version5 {
			reserved = 0xc0
		}
		if opts&reserved != 0 || opts&0x03 == 3 {
			d.fail("subscription options %#x of filter %q", opts, filter)
		}
		subs = append(subs, subscription{filter: filter, qos: opts & 0x03})
	}
	if d.err == nil && len(subs) == 0 {
		d.fail("SUBSCRIBE without a topic filter")
	}
	return id, subs, d.err
}

// decodeUnsubscribe decodes an UNSUBSCRIBE body.
func decodeUnsubscribe(body []byte, version byte) (uint16, []string, error) {
	d := &decoder{buf: body}
	id := d.uint16("packet identifier")
	if version == version5 {
		d.properties("UNSUBSCRIBE", func(byte, propertyValue) {})
	}
	var filters []string
	for d.err == nil && len(d.buf) > 0 {
		filters = append(filters, d.string("topic filter"))
	}
	if d.err == nil && len(filters) == 0 {
		d.fail("UNSUBSCRIBE without a topic filter")
	}
	return id, filters, d.err
}

// decodePacketID decodes the body of a PUBACK, which 5.0 may extend with
// a reason code and properties that the server does not need.
func decodePacketID(body []byte, version byte) (uint16, error) {
	d := &decoder{buf: body}
	id := d.uint16("packet identifier")
	if version == version5 {
		d.rest()
	}
	return id, d.done("acknowledgement")
}

// Property identifiers of MQTT 5.0 that the server reads or writes.
const (
	propSessionExpiry      = 0x11
	propAssignedClientID   = 0x12
	propReasonString       = 0x1f
	propReceiveMaximum     = 0x21
	propTopicAliasMaximum  = 0x22
	propTopicAlias         = 0x23
	propMaximumQoS         = 0x24
	propRetainAvailable    = 0x25
	propMaxPacketSize      = 0x27
	propWildcardAvailable  = 0x28
	propSubIDAvailable     = 0x29
	propSharedSubAvailable = 0x2a
)

// Encodings of property values.
const (
	propKindByte = iota + 1
	propKindUint16
	propKindUint32
	propKindVarint
	propKindString
	propKindBinary
	propKindStringPair
)

// propertyKinds gives the encoding of each property identifier of
// MQTT 5.0, section 2.2.2.2.
var propertyKinds = map[byte]byte{
	0x01: propKindByte, 0x02: propKindUint32, 0x03: propKindString, 0x08: propKindString,
	0x09: propKindBinary, 0x0b: propKindVarint, 0x11: propKindUint32, 0x12: propKindString,
	0x13: propKindUint16, 0x15: propKindString, 0x16: propKindBinary, 0x17: propKindByte,
	0x18: propKindUint32, 0x19: propKindByte, 0x1a: propKindString, 0x1c: propKindString,
	0x1f: propKindString, 0x21: propKindUint16, 0x22: propKindUint16, 0x23: propKindUint16,
	0x24: propKindByte, 0x25: propKindByte, 0x26: propKindStringPair, 0x27: propKindUint32,
	0x28: propKindByte, 0x29: propKindByte, 0x2a: propKindByte,
}

// propertyValue is a decoded property: a number, or text and bytes.
type propertyValue struct {
	num  uint32
	text string
}

// properties reads a 5.0 property list and calls visit for each
// property. An unknown identifier fails the packet, as the standard
// requires.
func (d *decoder) properties(in string, visit func(id byte, v propertyValue)) {
	n := d.varint(in + " property length")
	if d.err != nil {
		return
	}
	if n > len(d.buf) {
		d.fail("%s properties of %d bytes run past the end of the packet", in, n)
		return
	}
	props := &decoder{buf: d.buf[:n]}
	d.buf = d.buf[n:]
	for props.err == nil && len(props.buf) > 0 {
		id := byte(props.varint("property identifier"))
		var v propertyValue
		switch propertyKinds[id] {
		case propKindByte:
			v.num = uint32(props.byte("property"))
		case propKindUint16:
			v.num = uint32(props.uint16("property"))
		case propKindUint32:
			v.num = props.uint32("property")
		case propKindVarint:
			v.num = uint32(props.varint("property"))
		case propKindString:
			v.text = props.string("property")
		case propKindBinary:
			props.binary("property")
		case propKindStringPair:
			props.string("user property name")
			v.text = props.string("user property value")
		default:
			props.fail("unknown property identifier %#x in %s", id, in)
		}
		if props.err == nil {
			visit(id, v)
		}
	}
	if props.err != nil {
		d.err = props.err
	}
}
