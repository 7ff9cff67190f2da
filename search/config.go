package search

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/yuinet/yui/storage/store"
)

// Store is the part of the distributed store the search layer uses: the
// gateway for segments and the index key of a namespace.
// *store.Store implements it.
type Store interface {
	store.Gateway
	IndexKey(ctx context.Context, user, namespace string) ([store.IndexKeySize]byte, error)
}

var _ Store = (*store.Store)(nil)

// Config configures a Writer and a Querier. Store and Network are
// required. A writer and the queriers that read its namespaces must use
// the same IndexedNumbers.
type Config struct {
	Store Store
	// Network reaches the index holders; the node passes the store's.
	Network store.Network
	// Index is this node's index holder, which is called directly instead
	// of sending requests to itself. Nil for a node that holds no index.
	Index *Index
	// Replicas is the number of holders of each posting; default 3.
	Replicas int
	// IndexedNumbers names the numeric fields whose exact values are
	// indexed, so that field=value finds them through the index. Text
	// fields are always indexed. Conditions on other numeric fields are
	// checked on the readings that the other conditions find.
	IndexedNumbers []string
	// Parallelism is the number of segments stored or fetched at once;
	// default 16. A fetch mostly waits on holders, so more fetches in
	// flight than cores shorten a query.
	Parallelism int
	// RequestTimeout bounds each request to an index holder; default 10s.
	RequestTimeout time.Duration
	// Sealer, if set, adds records of its own beside each Write's
	// segments, such as their ciphertexts.
	Sealer Sealer
	Logger *slog.Logger
}

func (c *Config) setDefaults() error {
	if c.Store == nil || c.Network == nil {
		return errors.New("search: config needs Store and Network")
	}
	if c.Replicas <= 0 {
		c.Replicas = 3
	}
	if c.Parallelism <= 0 {
		c.Parallelism = 16
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

func (c *Config) postings() *postings {
	return &postings{
		net:      c.Network,
		local:    c.Index,
		replicas: c.Replicas,
		timeout:  c.RequestTimeout,
		log:      c.Logger,
	}
}

// keys derives the index keys of a namespace for user, failing as the
// store does for a user without read access.
func (c *Config) keys(ctx context.Context, user, ns string) (*keys, error) {
	key, err := c.Store.IndexKey(ctx, user, ns)
	if err != nil {
		return nil, err
	}
	return deriveKeys(key)
}
