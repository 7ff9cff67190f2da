package mqtt

import (
	"bufio"
	"bytes"
	"testing"
)

// FuzzDecodePacket feeds arbitrary bytes through the packet reader and
// every decoder of client packets, for both protocol versions. It checks
// that none panics and that the reader respects its size limit.
func FuzzDecodePacket(f *testing.F) {
	f.Add(connectPacket(version311, "c", 60, 2))
	f.Add(connectPacket(version5, "", 0, 2))
	f.Add(publishPacket(version311, "yui/lab/s", 1, 3, `{"fields":{"t":1}}`))
	f.Add(publishPacket(version5, "yui/lab/s", 0, 0, `{}`))
	f.Add(append([]byte{typeSubscribe<<4 | 2, 8, 0, 1}, append(appendString(nil, "a/#"), 0)...))
	f.Add([]byte{typeUnsubscribe<<4 | 2, 5, 0, 1, 0, 1, 'a'})
	f.Add([]byte{typePingreq << 4, 0, typeDisconnect << 4, 0})
	const limit = 4096
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bufio.NewReader(bytes.NewReader(data))
		for range 8 {
			p, err := readPacket(br, limit)
			if err != nil {
				return
			}
			if 1+len(p.body) > limit {
				t.Fatalf("packet body of %d bytes passed a limit of %d", len(p.body), limit)
			}
			for _, v := range []byte{version311, version5} {
				decodeAny(p, v)
			}
		}
	})
}

func decodeAny(p packet, version byte) {
	switch p.kind {
	case typeConnect:
		decodeConnect(p.body)
	case typePublish:
		if pub, err := decodePublish(p, version); err == nil && validateTopicName(pub.Topic) != nil {
			panic("decodePublish accepted an invalid topic " + pub.Topic)
		}
	case typeSubscribe:
		if _, subs, err := decodeSubscribe(p.body, version); err == nil {
			for _, s := range subs {
				if validateFilter(s.filter) == nil {
					matchTopic(s.filter, "yui/lab/sensor")
				}
			}
		}
	case typeUnsubscribe:
		decodeUnsubscribe(p.body, version)
	case typePuback:
		decodePacketID(p.body, version)
	}
}
