package node

import (
	"context"
	"errors"

	"github.com/yuinet/yui/sensor"
)

// ErrNoReadings reports a node that cannot take sensor readings because
// its search layer is not running.
var ErrNoReadings = errors.New("node: sensor readings are not enabled on this node")

// readingSink returns where the node's ingest paths hand readings.
func (n *Node) readingSink() sensor.Sink {
	if n.readings == nil {
		return refusingSink{}
	}
	return n.readings
}

// refusingSink rejects every write, so an ingest path started before the
// search layer fails loudly instead of dropping readings.
type refusingSink struct{}

func (refusingSink) Write(context.Context, string, string, []sensor.Reading) error {
	return ErrNoReadings
}
