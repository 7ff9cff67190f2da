package sim

import "github.com/yuinet/yui/network/wire"

// trafficClass is the category a message is counted in. A request takes
// the class of its sender, and its response takes the request's class.
type trafficClass uint8

const (
	// classJoin is traffic of nodes that started less than
	// Config.JoinPeriod ago: their bootstrap lookups and the checks of the
	// contacts they meet.
	classJoin trafficClass = iota
	// classSteady is the traffic of every other node: table upkeep,
	// liveness checks, group upkeep and the lookups it runs.
	classSteady
	numClasses
)

// maxTypes bounds the message type codes counted one by one; higher codes
// share the last slot.
const maxTypes = 64

// Traffic counts messages and their encoded bytes by class and message
// type. The zero value is empty, and a Traffic can be copied and
// subtracted, so a scenario measures a time window as the difference of
// two snapshots.
type Traffic struct {
	Messages [numClasses][maxTypes]uint64
	Bytes    [numClasses][maxTypes]uint64
}

func (t *Traffic) add(class trafficClass, typ wire.Type, size int) {
	i := min(int(typ), maxTypes-1)
	t.Messages[class][i]++
	t.Bytes[class][i] += uint64(size)
}

// Sub returns t minus an earlier snapshot of the same counters.
func (t Traffic) Sub(earlier Traffic) Traffic {
	for c := range t.Messages {
		for i := range t.Messages[c] {
			t.Messages[c][i] -= earlier.Messages[c][i]
			t.Bytes[c][i] -= earlier.Bytes[c][i]
		}
	}
	return t
}

// Total returns the messages and bytes of all types in class c.
func (t *Traffic) Total(c trafficClass) (messages, bytes uint64) {
	for i := range t.Messages[c] {
		messages += t.Messages[c][i]
		bytes += t.Bytes[c][i]
	}
	return messages, bytes
}

// Types returns the type codes with at least one message, in increasing
// order.
func (t *Traffic) Types() []wire.Type {
	var types []wire.Type
	for i := range maxTypes {
		for c := range t.Messages {
			if t.Messages[c][i] > 0 {
				types = append(types, wire.Type(i))
				break
			}
		}
	}
	return types
}

// Stats counts what happened on the simulated network.
type Stats struct {
	Traffic
	// Events counts the events processed.
	Events uint64
	// Lost counts messages dropped by random loss, and Partitioned those
	// dropped between the two sides of a partition.
	Lost, Partitioned uint64
	// Undelivered counts messages that reached a node that had left, or
	// an address where no node listens.
	Undelivered uint64
	// Invalid counts messages that failed to encode or decode, which is a
	// bug in a protocol.
	Invalid uint64
	// StuckTicks counts Ticks after which a node still reported a deadline
	// that had passed, which would make a real driver spin.
	StuckTicks uint64
	// SizeChecks counts messages whose computed size was compared with a
	// real encoding, and SizeMismatches those where the two differed.
	SizeChecks, SizeMismatches uint64
	// PeakQueue is the largest number of events scheduled at once.
	PeakQueue int
}
