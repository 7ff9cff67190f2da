package node

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/storage/store"
	"github.com/yuinet/yui/tag"
)

// Retention of tag sightings.
const (
	// DefaultSightingsKeep is how long a node keeps sightings unless
	// Config.SightingsKeep sets another time. It equals tag.MaxAge, the
	// oldest sighting a report may carry, so the sweep deletes nothing a
	// relay could still send.
	DefaultSightingsKeep = tag.MaxAge
	// sightingsSweepInterval is the mean time between two sweeps.
	sightingsSweepInterval = 10 * time.Minute
	// sightingsDeleteBatch is how many records a sweep deletes before it
	// checks for failures and for the node stopping.
	sightingsDeleteBatch = 256
	// sightingsDeleteParallelism bounds the deletes in flight.
	sightingsDeleteParallelism = 16
	// sightingsFailuresLogged bounds the failed deletes a sweep logs one
	// line each for; the rest are counted in one line.
	sightingsFailuresLogged = 5
	// sightingsDeleteTimeout bounds one delete: a read of the record's
	// newest version and the write of its tombstone.
	sightingsDeleteTimeout = 30 * time.Second
)

// sightingNetworks is the set of relay networks whose sightings this node
// has stored as its default user, and so sweeps.
//
// NOTE: the set lives in memory and starts with DefaultTagNetwork alone,
// so after a restart another network is swept only once a relay has
// reported to it again. Location requests ignore expired sightings either
// way.
type sightingNetworks struct {
	mu    sync.Mutex
	names map[string]bool
}

func newSightingNetworks() *sightingNetworks {
	return &sightingNetworks{names: map[string]bool{api.DefaultTagNetwork: true}}
}

func (s *sightingNetworks) add(network string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.names[network] = true
}

// list returns the networks, sorted.
func (s *sightingNetworks) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.names))
	for name := range s.names {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// sightingsCutoff returns the time before which sightings have expired at
// now, or the zero time when the node keeps them forever.
func (n *Node) sightingsCutoff(now time.Time) time.Time {
	if n.cfg.SightingsKeep <= 0 {
		return time.Time{}
	}
	return now.Add(-n.cfg.SightingsKeep)
}

// searchStart returns the start of a location request's search: since,
// or the retention's cutoff if that is later, so that sightings a sweep
// has not deleted yet are not used either.
func (n *Node) searchStart(now, since time.Time) time.Time {
	if cutoff := n.sightingsCutoff(now); cutoff.After(since) {
		return cutoff
	}
	return since
}

// sweepSightingsPeriodically deletes expired sightings until the store
// stops. It does nothing when the node keeps sightings forever.
func (n *Node) sweepSightingsPeriodically() {
	s := n.storage
	defer s.done.Done()
	if n.cfg.SightingsKeep <= 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-s.stop
		cancel()
	}()
	for {
		wait := time.Duration(float64(n.cfg.sightingsSweepEvery) * (0.75 + 0.5*rand.Float64()))
		select {
		case <-s.stop:
			return
		case <-time.After(wait):
		}
		cutoff := n.sightingsCutoff(time.Now())
		for _, network := range n.sightingNets.list() {
			n.sweepSightings(ctx, network, cutoff)
			if ctx.Err() != nil {
				return
			}
		}
	}
}

// sweepSightings deletes the records of a relay network whose newest
// sighting is older than cutoff, as the node's default user, and returns
// how many it deleted. It logs one line if it deleted any, and one per
// failure. The listing reads keys only, because the key carries each
// sighting's time. Relay positions are kept.
func (n *Node) sweepSightings(ctx context.Context, network string, cutoff time.Time) int {
	namespace := api.SightingsNamespace(network)
	infos, err := n.storage.store.List(ctx, api.DefaultUser, namespace, sightingPrefix)
	if errors.Is(err, store.ErrNotFound) {
		return 0
	}
	if err != nil {
		if ctx.Err() == nil {
			n.log.Warn("listing sightings for the expiry sweep failed", "network", network, "namespace", namespace, "err", err)
		}
		return 0
	}
	var expired []string
	for _, info := range infos {
		newest, err := newestSightingTime(info.Key)
		if err != nil {
			continue // a malformed key: location requests skip and log it
		}
		if newest.Before(cutoff) {
			expired = append(expired, info.Key)
		}
	}

	deleted, failed := 0, 0
	for batch := range slices.Chunk(expired, sightingsDeleteBatch) {
		if ctx.Err() != nil {
			break
		}
		errs := n.deleteSightings(ctx, namespace, batch)
		batchFailed := 0
		for i, err := range errs {
			if err == nil {
				deleted++
				continue
			}
			failed++
			batchFailed++
			if failed <= sightingsFailuresLogged && ctx.Err() == nil {
				n.log.Warn("deleting an expired sighting record failed", "network", network, "namespace", namespace, "key", batch[i], "err", err)
			}
		}
		// A batch in which every delete failed means the store is out of
		// reach or the node lacks the right: the next sweep tries again.
		if batchFailed == len(batch) {
			break
		}
	}
	if failed > sightingsFailuresLogged {
		n.log.Warn("more expired sighting records not deleted", "network", network, "namespace", namespace,
			"failed", failed, "logged", sightingsFailuresLogged)
	}
	if deleted > 0 {
		n.log.Info("deleted expired sightings", "network", network, "namespace", namespace, "records", deleted,
			"expired", len(expired), "older_than", cutoff.UTC().Format(time.RFC3339))
	}
	return deleted
}

// deleteSightings deletes keys of namespace as the default user,
// sightingsDeleteParallelism at once, and returns each key's error. A
// record already gone counts as deleted.
func (n *Node) deleteSightings(ctx context.Context, namespace string, keys []string) []error {
	errs := make([]error, len(keys))
	forEachLimit(len(keys), sightingsDeleteParallelism, func(i int) error {
		dctx, cancel := context.WithTimeout(ctx, sightingsDeleteTimeout)
		defer cancel()
		err := n.storage.store.Delete(dctx, api.DefaultUser, namespace, keys[i])
		if !errors.Is(err, store.ErrNotFound) {
			errs[i] = err
		}
		return err
	})
	return errs
}

// newestSightingTime returns the time of the newest sighting of a
// sighting key.
func newestSightingTime(key string) (time.Time, error) {
	sightings, err := parseSightingKey(key)
	if err != nil {
		return time.Time{}, err
	}
	var newest time.Time
	for _, s := range sightings {
		if s.Time.After(newest) {
			newest = s.Time
		}
	}
	return newest, nil
}
