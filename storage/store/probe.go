package store

import "context"

// probeKey marks a context whose requests also go to nodes the Network
// took for down.
type probeKey struct{}

// WithDownProbe returns a context for the last attempt of a read or
// repair that found too few shards. A Network that leaves out, and fails
// requests to, peers it marked down after failed requests includes and
// tries them under this context. On a loaded machine a live holder that
// timed out a few times is marked down, and once a third of the nodes
// failed, every survivor's shard of a chunk of the default code is
// needed.
func WithDownProbe(ctx context.Context) context.Context {
	return context.WithValue(ctx, probeKey{}, true)
}

// ProbesDown reports whether ctx came from WithDownProbe.
func ProbesDown(ctx context.Context) bool {
	probe, _ := ctx.Value(probeKey{}).(bool)
	return probe
}
