package mqtt

import "encoding/binary"

// CONNACK return codes of 3.1.1 and the matching 5.0 reason codes.
const (
	connAccepted          = 0x00
	connBadVersion311     = 0x01
	connBadClientID311    = 0x02
	connBadVersion5       = 0x84
	connBadClientID5      = 0x85
	connMalformed5        = 0x81
	connProtocolError5    = 0x82
	connPacketTooLarge5   = 0x95
	reasonUnspecified     = 0x80
	reasonNotAuthorized   = 0x87
	reasonTopicInvalid    = 0x90
	reasonPayloadInvalid  = 0x99
	reasonKeepAlive       = 0x8d
	reasonSessionTaken    = 0x8e
	reasonShuttingDown    = 0x8b
	reasonQoSNotSupported = 0x9b
	reasonFilterInvalid   = 0x8f
	reasonQuotaExceeded   = 0x97
	reasonNoSubscription  = 0x11
)

// appendFixedHeader appends a packet's first byte and remaining length.
func appendFixedHeader(dst []byte, kind, flags byte, length int) []byte {
	return appendVarint(append(dst, kind<<4|flags), length)
}

func appendString(dst []byte, s string) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(s)))
	return append(dst, s...)
}

// connackProps are the 5.0 CONNACK properties: what the server supports
// and its limits.
type connackProps struct {
	receiveMax       uint16
	maxPacket        uint32
	assignedClientID string
	// sessionExpiry is sent when the client asked for a session that
	// outlives the connection, which the server does not keep.
	sessionExpiry bool
}

func encodeConnack(version, code byte, props *connackProps) []byte {
	if version != version5 {
		return []byte{typeConnack << 4, 2, 0, code}
	}
	var p []byte
	if props != nil {
		p = append(p, propMaximumQoS, 1, propRetainAvailable, 0, propWildcardAvailable, 1,
			propSubIDAvailable, 0, propSharedSubAvailable, 0)
		p = binary.BigEndian.AppendUint16(append(p, propReceiveMaximum), props.receiveMax)
		p = binary.BigEndian.AppendUint32(append(p, propMaxPacketSize), props.maxPacket)
		if props.assignedClientID != "" {
			p = appendString(append(p, propAssignedClientID), props.assignedClientID)
		}
		if props.sessionExpiry {
			p = binary.BigEndian.AppendUint32(append(p, propSessionExpiry), 0)
		}
	}
	body := appendVarint([]byte{0, code}, len(p))
	body = append(body, p...)
	return append(appendFixedHeader(nil, typeConnack, 0, len(body)), body...)
}

// encodeAck encodes a PUBACK, UNSUBACK-style acknowledgement of one
// packet id. A 5.0 reason code other than success is appended.
func encodeAck(kind byte, id uint16, version, reason byte) []byte {
	if version == version5 && reason != 0 {
		return []byte{kind << 4, 3, byte(id >> 8), byte(id), reason}
	}
	return []byte{kind << 4, 2, byte(id >> 8), byte(id)}
}

// encodeSuback encodes a SUBACK or a 5.0 UNSUBACK with one code per
// filter.
func encodeSuback(kind byte, id uint16, version byte, codes []byte) []byte {
	body := []byte{byte(id >> 8), byte(id)}
	if version == version5 {
		body = append(body, 0) // no properties
	}
	if kind == typeUnsuback && version != version5 {
		codes = nil // 3.1.1's UNSUBACK carries only the packet id
	}
	body = append(body, codes...)
	return append(appendFixedHeader(nil, kind, 0, len(body)), body...)
}

// encodePublish encodes a QoS 0 PUBLISH.
func encodePublish(version byte, topic string, payload []byte) []byte {
	length := 2 + len(topic) + len(payload)
	if version == version5 {
		length++ // empty property list
	}
	dst := appendFixedHeader(make([]byte, 0, 5+length), typePublish, 0, length)
	dst = appendString(dst, topic)
	if version == version5 {
		dst = append(dst, 0)
	}
	return append(dst, payload...)
}

// encodeDisconnect encodes a 5.0 DISCONNECT from the server with a
// reason code. 3.1.1 has no such packet: the server just closes.
func encodeDisconnect(reason byte) []byte {
	return []byte{typeDisconnect << 4, 1, reason}
}

var pingresp = []byte{typePingresp << 4, 0}
