package mqtt

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// connectPacket builds a CONNECT packet as a client would send it.
func connectPacket(version byte, clientID string, keepAlive uint16, flags byte, extra ...[]byte) []byte {
	var body []byte
	body = appendString(body, "MQTT")
	body = append(body, version, flags, byte(keepAlive>>8), byte(keepAlive))
	if version == version5 {
		body = append(body, 0) // no properties
	}
	body = appendString(body, clientID)
	for _, e := range extra {
		body = append(body, e...)
	}
	return append(appendFixedHeader(nil, typeConnect, 0, len(body)), body...)
}

// publishPacket builds a PUBLISH packet from a client.
func publishPacket(version byte, topic string, qos byte, id uint16, payload string) []byte {
	var body []byte
	body = appendString(body, topic)
	if qos > 0 {
		body = append(body, byte(id>>8), byte(id))
	}
	if version == version5 {
		body = append(body, 0)
	}
	body = append(body, payload...)
	return append(appendFixedHeader(nil, typePublish, qos<<1, len(body)), body...)
}

func read(t *testing.T, b []byte) packet {
	t.Helper()
	p, err := readPacket(bufio.NewReader(bytes.NewReader(b)), 1<<20)
	if err != nil {
		t.Fatalf("readPacket(%x): %v", b, err)
	}
	return p
}

func TestDecodeConnect311(t *testing.T) {
	pkt := connectPacket(version311, "mote-7", 60, 0x02|0x80|0x40, appendString(nil, "alice"), appendString(nil, "secret"))
	c, err := decodeConnect(read(t, pkt).body)
	if err != nil {
		t.Fatal(err)
	}
	if c.version != version311 || c.clientID != "mote-7" || c.keepAlive != 60 || !c.cleanStart {
		t.Errorf("connect = %+v, want 3.1.1, mote-7, 60 s, clean", c)
	}
	if c.username != "alice" || !c.hasUser {
		t.Errorf("user name = %q, want alice", c.username)
	}
}

func TestDecodeConnect5Properties(t *testing.T) {
	var body []byte
	body = appendString(body, "MQTT")
	body = append(body, version5, 0x02, 0, 30)
	props := []byte{propSessionExpiry, 0, 0, 0x0e, 0x10, propMaxPacketSize, 0, 0, 0x10, 0, 0x26}
	props = appendString(appendString(props, "k"), "v") // a user property
	body = appendVarint(body, len(props))
	body = append(body, props...)
	body = appendString(body, "")
	c, err := decodeConnect(body)
	if err != nil {
		t.Fatal(err)
	}
	if c.sessionExpiry != 3600 || c.maxPacket != 4096 {
		t.Errorf("session expiry %d, max packet %d; want 3600 and 4096", c.sessionExpiry, c.maxPacket)
	}
}

func TestDecodeConnectRejects(t *testing.T) {
	cases := []struct {
		name string
		body []byte
		want error
	}{
		{"version 3", connectPacket(3, "c", 0, 2)[2:], errUnsupportedVersion},
		{"reserved flag", connectPacket(version311, "c", 0, 3)[2:], ErrMalformed},
		{"password without user", connectPacket(version311, "c", 0, 0x42, appendString(nil, "pw"))[2:], ErrMalformed},
		{"will QoS without will", connectPacket(version311, "c", 0, 0x0a)[2:], ErrMalformed},
		{"short", []byte{0, 4, 'M', 'Q'}, ErrMalformed},
		{"trailing bytes", append(connectPacket(version311, "c", 0, 2)[2:], 1), ErrMalformed},
		{"bad name", append(appendString(nil, "HTTP"), 4, 2, 0, 0, 0, 0), ErrProtocol},
		{"unknown property", append(append(appendString(nil, "MQTT"), 5, 2, 0, 0), 2, 0x7f, 0), ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := decodeConnect(c.body); !errors.Is(err, c.want) {
				t.Fatalf("error = %v, want %v", err, c.want)
			}
		})
	}
}

func TestDecodePublish(t *testing.T) {
	for _, v := range []byte{version311, version5} {
		p := read(t, publishPacket(v, "yui/lab/R1-12", 1, 7, `{"fields":{"t":1}}`))
		pub, err := decodePublish(p, v)
		if err != nil {
			t.Fatalf("version %d: %v", v, err)
		}
		if pub.Topic != "yui/lab/R1-12" || pub.QoS != 1 || pub.packetID != 7 || string(pub.Payload) != `{"fields":{"t":1}}` {
			t.Errorf("version %d: publish = %+v", v, pub)
		}
	}
}

func TestDecodePublishRejects(t *testing.T) {
	qos2 := read(t, publishPacket(version311, "a", 1, 1, "x"))
	qos2.flags = 2 << 1
	if _, err := decodePublish(qos2, version311); !errors.Is(err, ErrProtocol) {
		t.Errorf("QoS 2: %v, want ErrProtocol", err)
	}
	zeroID := read(t, publishPacket(version311, "a", 1, 0, "x"))
	if _, err := decodePublish(zeroID, version311); !errors.Is(err, ErrMalformed) {
		t.Errorf("packet id 0: %v, want ErrMalformed", err)
	}
	wild := read(t, publishPacket(version311, "a/+", 0, 0, "x"))
	if _, err := decodePublish(wild, version311); !errors.Is(err, ErrProtocol) {
		t.Errorf("wildcard topic: %v, want ErrProtocol", err)
	}
	alias := []byte{0, 0, 3, propTopicAlias, 0, 1}
	if _, err := decodePublish(packet{kind: typePublish, body: alias}, version5); !errors.Is(err, ErrProtocol) {
		t.Errorf("topic alias: %v, want ErrProtocol", err)
	}
	nul := read(t, publishPacket(version311, "a\x00b", 0, 0, "x"))
	if _, err := decodePublish(nul, version311); !errors.Is(err, ErrMalformed) {
		t.Errorf("topic with U+0000: %v, want ErrMalformed", err)
	}
}

func TestReadPacketLimits(t *testing.T) {
	big := publishPacket(version311, "a", 0, 0, strings.Repeat("x", 1000))
	_, err := readPacket(bufio.NewReader(bytes.NewReader(big)), 500)
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("packet over the limit: %v, want ErrTooLarge", err)
	}
	long := []byte{typePublish << 4, 0xff, 0xff, 0xff, 0xff, 0x01}
	if _, err := readPacket(bufio.NewReader(bytes.NewReader(long)), 1<<30); !errors.Is(err, ErrMalformed) {
		t.Errorf("5-byte length: %v, want ErrMalformed", err)
	}
	cut := big[:100]
	if _, err := readPacket(bufio.NewReader(bytes.NewReader(cut)), 1<<20); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("cut packet: %v, want io.ErrUnexpectedEOF", err)
	}
	badFlags := []byte{typeSubscribe << 4, 0}
	if _, err := readPacket(bufio.NewReader(bytes.NewReader(badFlags)), 100); !errors.Is(err, ErrMalformed) {
		t.Errorf("SUBSCRIBE with flags 0: %v, want ErrMalformed", err)
	}
}

func TestVarintRoundTrip(t *testing.T) {
	for _, v := range []int{0, 127, 128, 16383, 16384, 2097151, 2097152, maxRemainingLength} {
		b := appendVarint(nil, v)
		got, n, err := readVarint(bytes.NewReader(b))
		if err != nil || got != v || n != len(b) {
			t.Errorf("varint %d: read %d in %d bytes (%v), want %d in %d", v, got, n, err, v, len(b))
		}
	}
}

func TestDecodeSubscribe(t *testing.T) {
	body := []byte{0, 9}
	body = append(appendString(body, "yui/alerts"), 1)
	body = append(appendString(body, "yui/+/x"), 0)
	id, subs, err := decodeSubscribe(body, version311)
	if err != nil {
		t.Fatal(err)
	}
	if id != 9 || len(subs) != 2 || subs[0] != (subscription{"yui/alerts", 1}) || subs[1].filter != "yui/+/x" {
		t.Errorf("subscribe = %d %+v", id, subs)
	}
	if _, _, err := decodeSubscribe([]byte{0, 9}, version311); !errors.Is(err, ErrMalformed) {
		t.Errorf("no filters: %v, want ErrMalformed", err)
	}
	if _, _, err := decodeSubscribe(append(appendString([]byte{0, 1}, "a"), 0x04), version311); !errors.Is(err, ErrMalformed) {
		t.Errorf("3.1.1 reserved option bit: %v, want ErrMalformed", err)
	}
}

func TestTopicMatch(t *testing.T) {
	cases := []struct {
		filter, topic string
		want          bool
	}{
		{"yui/alerts", "yui/alerts", true},
		{"yui/alerts", "yui/alerts/x", false},
		{"yui/+", "yui/alerts", true},
		{"yui/+", "yui", false},
		{"yui/#", "yui", true},
		{"yui/#", "yui/a/b/c", true},
		{"#", "yui/a", true},
		{"#", "$SYS/x", false},
		{"+/a", "$SYS/a", false},
		{"+/+", "/a", true},
		{"a/+/c", "a/b/c", true},
		{"a/+/c", "a/b/d", false},
		{"a", "a/", false},
	}
	for _, c := range cases {
		if got := matchTopic(c.filter, c.topic); got != c.want {
			t.Errorf("matchTopic(%q, %q) = %v, want %v", c.filter, c.topic, got, c.want)
		}
	}
	for _, bad := range []string{"", "a/#/b", "a+", "a/b#", "$share/g/a"} {
		if validateFilter(bad) == nil {
			t.Errorf("validateFilter(%q) accepted an invalid filter", bad)
		}
	}
}
