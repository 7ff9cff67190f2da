package sensor

import "context"

// Sink stores readings. Every ingest path (file import, HTTP, MQTT)
// hands its readings to one, so they all end up stored and indexed the
// same way.
type Sink interface {
	// Write stores readings in a namespace on behalf of a local user.
	// It returns only once the readings are stored, so a caller that
	// gets nil may acknowledge them to their sender.
	Write(ctx context.Context, user, namespace string, readings []Reading) error
}
