package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/storage/store"
	"github.com/yuinet/yui/tag"
)

// maxDashboardTags bounds the tags the page locates for one user, so a
// user with very many tags cannot make every page refresh expensive.
const maxDashboardTags = 200

// userTags locates the tags that user owns, in relay network network.
// It lists and reads the tag namespace as user, so the store's access
// check decides what each user gets: another user's tags fail to list.
//
// NOTE: tags another owner shared with user are not listed, because the
// store offers no listing of the namespaces a user was granted.
func (n *Node) userTags(ctx context.Context, user, network string) ([]api.DashboardTag, error) {
	out := []api.DashboardTag{}
	ns, err := n.tagNamespace(user)
	if err != nil {
		return out, err
	}
	infos, err := n.storage.store.List(ctx, user, ns, "")
	if errors.Is(err, store.ErrNotFound) {
		return out, nil
	}
	if err != nil {
		return out, fmt.Errorf("list tags of %s: %w", user, err)
	}
	if len(infos) > maxDashboardTags {
		infos = infos[:maxDashboardTags]
	}

	secrets := map[string]tag.Secret{}
	for _, info := range infos {
		secret, err := n.dashboard.tagSecret(info, func() (tag.Secret, error) {
			return n.readTagSecret(ctx, user, user, info.Key)
		})
		if err != nil {
			out = append(out, api.DashboardTag{Owner: user, Name: info.Key, Network: network, Error: err.Error()})
			continue
		}
		secrets[info.Key] = secret
	}
	located, err := n.locateTags(ctx, user, network, secrets)
	out = append(out, located...)
	slices.SortFunc(out, func(a, b api.DashboardTag) int { return strings.Compare(a.Name, b.Name) })
	return out, err
}

// locateTags locates every tag of secrets with one listing of the relay
// network's sightings.
func (n *Node) locateTags(ctx context.Context, owner, network string, secrets map[string]tag.Secret) ([]api.DashboardTag, error) {
	if len(secrets) == 0 {
		return nil, nil
	}
	now := time.Now()
	since := n.searchStart(now, now.Add(-tagSearchDefault))
	infos, err := n.networkRecords(ctx, network)
	if err != nil {
		return nil, err
	}
	resolver := tag.NewResolver(secrets, since, now)
	byTag := n.sightingsByTag(network, infos, resolver, since)
	// The same locator settings as serveTagLocation, so the page and the
	// tag endpoint place a tag alike.
	loc := &tag.Locator{Model: tag.ULBModel, Range: tag.DefaultRange, Speed: tag.WalkingSpeed,
		Relays: n.relayPositions(network, infos)}

	var out []api.DashboardTag
	for name := range secrets {
		sightings := byTag[name]
		t := api.DashboardTag{Owner: owner, Name: name, Network: network, Sightings: len(sightings)}
		if len(sightings) > 0 {
			t.LastSeen = sightings[len(sightings)-1].Time
		}
		// Only the newest fix is shown, so the track before it is not
		// computed.
		if est, err := loc.Latest(sightings); err == nil {
			t.Latest = &est
		}
		out = append(out, t)
	}
	return out, nil
}

// sightingsByTag returns the sightings since since of each tag the
// resolver names, by tag name, oldest first.
func (n *Node) sightingsByTag(network string, infos []store.RecordInfo, resolver *tag.Resolver, since time.Time) map[string][]tag.Sighting {
	out := map[string][]tag.Sighting{}
	for _, info := range infos {
		if !strings.HasPrefix(info.Key, sightingPrefix) {
			continue
		}
		id, err := tag.ParseID(idOfKey(info.Key))
		if err != nil {
			continue
		}
		name, ok := resolver.Name(id)
		if !ok {
			continue
		}
		got, err := parseSightingKey(info.Key)
		if err != nil {
			n.log.Warn("skipping sighting record", "network", network, "err", err)
			continue
		}
		for _, s := range got {
			if !s.Time.Before(since) {
				out[name] = append(out[name], s)
			}
		}
	}
	for _, s := range out {
		slices.SortFunc(s, func(a, b tag.Sighting) int { return a.Time.Compare(b.Time) })
	}
	return out
}

// maxCachedSecrets bounds the tag secrets the page keeps in memory.
const maxCachedSecrets = 10_000

// secretKey names one version of one tag record.
type secretKey struct {
	namespace, name string
	version         uint64
}

// tagSecret returns the secret of the tag record info, calling read only
// for a version not read before. An open page locates the user's tags
// every second, and reading every secret each time would cost one store
// read per tag. The cache is consulted only after the store listed the
// record for the user, so it grants no access the store would not.
func (d *dashboardState) tagSecret(info store.RecordInfo, read func() (tag.Secret, error)) (tag.Secret, error) {
	key := secretKey{info.Namespace, info.Key, info.Version}
	d.mu.Lock()
	secret, ok := d.secrets[key]
	d.mu.Unlock()
	if ok {
		return secret, nil
	}

	secret, err := read()
	if err != nil {
		return secret, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.secrets) >= maxCachedSecrets {
		clear(d.secrets)
	}
	d.secrets[key] = secret
	return secret, nil
}
