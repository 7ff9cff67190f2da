package node

import (
	"context"
	"errors"
	"sync"

	"github.com/yuinet/yui/sensor"
)

// maxGroupReadings bounds the readings one group commit hands the sink.
const maxGroupReadings = 10_000

// groupCommit merges the readings of concurrent ingest requests (MQTT
// sessions and HTTP requests) into few sink writes. The sink pays a cost
// per call (each call stores its own segments), and sensors often send
// one reading per connection, so writing each request alone would cost
// one record per reading. One goroutine writes; while it does, new requests queue, and
// the next write takes every queued request at once. No timer delays a
// request that arrives alone.
type groupCommit struct {
	sink     func() sensor.Sink
	requests chan *commitRequest
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

// sinkTarget is the user and namespace a group of readings is written to.
type sinkTarget struct{ user, namespace string }

// commitRequest is one request's readings for one user and namespace.
type commitRequest struct {
	target   sinkTarget
	readings []sensor.Reading
	// result receives the error of the write that stored the readings.
	result chan error
}

func newGroupCommit(sink func() sensor.Sink) *groupCommit {
	g := &groupCommit{
		sink:     sink,
		requests: make(chan *commitRequest),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	go g.run()
	return g
}

// write stores readings and returns once they are stored, or when ctx
// ends. Readings of a request abandoned that way may still be stored.
func (g *groupCommit) write(ctx context.Context, t sinkTarget, readings []sensor.Reading) error {
	req := &commitRequest{target: t, readings: readings, result: make(chan error, 1)}
	select {
	case g.requests <- req:
	case <-ctx.Done():
		return ctx.Err()
	case <-g.stop:
		return context.Canceled
	}
	select {
	case err := <-req.result:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *groupCommit) run() {
	defer close(g.done)
	for {
		var first *commitRequest
		select {
		case first = <-g.requests:
		case <-g.stop:
			return
		}
		g.commit(g.gather(first))
	}
}

// gather takes first and every request already waiting, up to
// maxGroupReadings readings.
func (g *groupCommit) gather(first *commitRequest) []*commitRequest {
	batch := []*commitRequest{first}
	n := len(first.readings)
	for n < maxGroupReadings {
		select {
		case req := <-g.requests:
			batch = append(batch, req)
			n += len(req.readings)
		default:
			return batch
		}
	}
	return batch
}

// commit writes the requests with one sink call per user and namespace,
// and hands each request the result of its write.
func (g *groupCommit) commit(batch []*commitRequest) {
	groups := map[sinkTarget][]*commitRequest{}
	var order []sinkTarget
	for _, req := range batch {
		if _, ok := groups[req.target]; !ok {
			order = append(order, req.target)
		}
		groups[req.target] = append(groups[req.target], req)
	}
	for _, t := range order {
		var readings []sensor.Reading
		for _, req := range groups[t] {
			readings = append(readings, req.readings...)
		}
		// The requests wait for this result, and closing the node
		// stops them first, so the write needs no context of its own.
		err := g.sink().Write(context.Background(), t.user, t.namespace, readings)
		if errors.Is(err, sensor.ErrInvalid) && len(groups[t]) > 1 {
			// A sealed namespace rejects a whole write for one value its
			// scale or bound cannot hold; write each request alone, so
			// that only the request with that value fails.
			for _, req := range groups[t] {
				req.result <- g.sink().Write(context.Background(), t.user, t.namespace, req.readings)
			}
			continue
		}
		for _, req := range groups[t] {
			req.result <- err
		}
	}
}

// close stops the writer goroutine once its current write returns. It
// is safe to call more than once.
func (g *groupCommit) close() {
	g.stopOnce.Do(func() { close(g.stop) })
	<-g.done
}
