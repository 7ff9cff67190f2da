package discovery

import (
	"encoding/binary"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// carrierChanges returns how often each interface, by index, lost or
// regained its carrier since it was created. A link that went down and
// up again between two scans looks unchanged in every other respect.
func carrierChanges() (map[int]uint32, error) {
	rib, err := syscall.NetlinkRIB(syscall.RTM_GETLINK, syscall.AF_UNSPEC)
	if err != nil {
		return nil, fmt.Errorf("discovery: read link list: %w", err)
	}
	msgs, err := syscall.ParseNetlinkMessage(rib)
	if err != nil {
		return nil, fmt.Errorf("discovery: parse link list: %w", err)
	}

	changes := make(map[int]uint32)
	for i := range msgs {
		m := &msgs[i]
		if m.Header.Type != syscall.RTM_NEWLINK || len(m.Data) < syscall.SizeofIfInfomsg {
			continue
		}
		attrs, err := syscall.ParseNetlinkRouteAttr(m)
		if err != nil {
			continue
		}
		// The interface index is the int32 at offset 4 of struct ifinfomsg.
		index := int(int32(binary.NativeEndian.Uint32(m.Data[4:8])))
		for _, a := range attrs {
			if a.Attr.Type == unix.IFLA_CARRIER_CHANGES && len(a.Value) >= 4 {
				changes[index] = binary.NativeEndian.Uint32(a.Value)
			}
		}
	}
	return changes, nil
}
