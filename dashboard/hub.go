package dashboard

import "sync"

// Event is one server-sent event for the page: Name is its event field
// and Data its JSON payload. Namespace is set on events that belong to one
// namespace's readings, so that a stream can drop the others.
type Event struct {
	Name      string
	Namespace string
	Data      []byte
}

// subscriberBuffer is how many events a stream may fall behind before the
// hub drops it. The page reconnects and reloads the whole state, so a
// dropped stream loses nothing it shows.
const subscriberBuffer = 256

// Hub hands every published event to every subscriber. A subscriber too
// slow to keep up is closed instead of slowing the publisher, which is an
// ingest path.
type Hub struct {
	mu sync.Mutex
	// subs holds the open subscriptions; guarded by mu.
	subs map[chan Event]struct{}
}

// NewHub returns a hub with no subscribers.
func NewHub() *Hub {
	return &Hub{subs: make(map[chan Event]struct{})}
}

// Subscribe returns a channel of the events published from now on and a
// function that ends the subscription. The channel is closed when the
// subscription ends or the subscriber falls behind.
func (h *Hub) Subscribe() (<-chan Event, func()) {
	ch := make(chan Event, subscriberBuffer)
	h.mu.Lock()
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() { h.drop(ch) }
}

func (h *Hub) drop(ch chan Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[ch]; ok {
		delete(h.subs, ch)
		close(ch)
	}
}

// Publish hands e to every subscriber without blocking.
func (h *Hub) Publish(e Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- e:
		default:
			delete(h.subs, ch)
			close(ch)
		}
	}
}

// Len returns the number of subscribers.
func (h *Hub) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}
