package cli

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/spf13/cobra"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/sensor"
	"github.com/yuinet/yui/sensor/importer"
	"github.com/yuinet/yui/tag"
)

// simulateFlags are the options of 'yui tag simulate'.
type simulateFlags struct {
	store    storeFlags
	tags     int
	relays   string
	duration time.Duration
	network  string
	seed     uint64
}

// simReportPeriod is how much time one simulated relay report covers, as
// a gateway that sends what it heard once a minute.
const simReportPeriod = time.Minute

func newTagSimulateCommand(g *globalFlags) *cobra.Command {
	var f simulateFlags
	cmd := &cobra.Command{
		Use:   "simulate",
		Short: "Send the sightings of simulated tags to the local node",
		Long: `Walk --tags tags along routes through a relay network for --duration,
ending now, and post the sightings the relays would report to the local
node, one report per relay and minute. The tags are named sim-1 … sim-N
and owned by --user; missing ones are created, so that 'yui tag where
sim-1' locates one afterwards.

--relays is "town" (10 × 10 relays 30 m apart), "ulb" (the ULB library's
19 motes on their inferred layout) or a file of relay positions with
columns id, x, y in metres, such as the Intel lab's mote_locs.txt. RSSI
follows the path-loss model fitted to the ULB library data (docs/tags.md),
with relays hearing tags up to 40 m away. The same --seed gives the same
routes and RSSI.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTagSimulate(cmd, g, &f)
		},
	}
	f.store.register(cmd)
	fl := cmd.Flags()
	fl.IntVar(&f.tags, "tags", 5, "number of simulated tags")
	fl.StringVar(&f.relays, "relays", "town", `relay positions: "town", "ulb" or a file of id, x, y in metres`)
	fl.DurationVar(&f.duration, "duration", 10*time.Minute, "simulated time, ending now, up to 168h")
	fl.StringVar(&f.network, "network", api.DefaultTagNetwork, "relay network to report to")
	fl.Uint64Var(&f.seed, "seed", 1, "seed of routes and RSSI noise")
	return cmd
}

func runTagSimulate(cmd *cobra.Command, g *globalFlags, f *simulateFlags) error {
	if f.tags < 1 || f.tags > 10_000 {
		return fmt.Errorf("invalid --tags %d: want 1 to 10000", f.tags)
	}
	if f.duration <= 0 || f.duration > tag.MaxAge-time.Hour {
		return fmt.Errorf("invalid --duration %v: want up to %v, because the node rejects older sightings", f.duration, tag.MaxAge-time.Hour)
	}
	if err := api.ValidateUserName(f.store.user); err != nil {
		return err
	}
	relays, err := simRelays(f.relays)
	if err != nil {
		return err
	}
	client, ctx, cancel, err := connectFor(cmd.Context(), g, listTimeout)
	if err != nil {
		return err
	}
	defer cancel()

	tags := tag.NewSimTags("sim", f.tags, 20, relays, rand.New(rand.NewPCG(f.seed, 1)))
	for i := range tags {
		if tags[i].Secret, err = simTagSecret(ctx, client, f.store.user, tags[i].Name); err != nil {
			return err
		}
	}
	sim := &tag.Simulation{Model: tag.ULBModel, Range: tag.DefaultRange, Relays: relays,
		Beacon: 5 * time.Second, Speed: tag.WalkingSpeed, ClockError: time.Minute, Seed: f.seed}

	start := time.Now()
	sent, err := postSimulation(ctx, client, f, sim, tags, relays)
	if err != nil {
		return err
	}
	took := time.Since(start)
	fmt.Fprintf(cmd.OutOrStdout(), "%d tags, %d relays: posted %d sightings in %.1f s (%.0f per second)\n",
		len(tags), len(relays), sent, took.Seconds(), float64(sent)/took.Seconds())
	return nil
}

// simTagSecret returns the secret of owner's tag name, creating the tag
// if it does not exist.
func simTagSecret(ctx context.Context, client *api.Client, owner, name string) (tag.Secret, error) {
	secret, err := readTagSecret(ctx, client, owner, name)
	if errors.Is(err, api.ErrNotFound) {
		return addTag(ctx, client, owner, name)
	}
	return secret, err
}

// postSimulation runs the simulation and posts one report per relay per
// simReportPeriod, each with the relay's position. Reports go in as the
// node's default user, as a relay's would, because the node reads the
// sightings as that user when it locates a tag.
func postSimulation(ctx context.Context, client *api.Client, f *simulateFlags, sim *tag.Simulation,
	tags []tag.SimTag, relays map[string]tag.Point) (int, error) {
	pending := map[string]*tag.Report{}
	sent := 0
	flush := func() error {
		for id, rep := range pending {
			res, err := client.PostSightings(ctx, api.DefaultUser, f.network, rep)
			if err != nil {
				return fmt.Errorf("post report of relay %s: %w", id, err)
			}
			sent += res.Stored
		}
		clear(pending)
		return nil
	}

	start := time.Now().Add(-f.duration)
	period := start
	err := sim.Run(tags, start, f.duration, func(s tag.SimSighting) error {
		if s.Time.Sub(period) >= simReportPeriod {
			if err := flush(); err != nil {
				return err
			}
			period = s.Time
		}
		rep := pending[s.Relay]
		if rep == nil {
			p := relays[s.Relay]
			rep = &tag.Report{Relay: s.Relay, Position: &p}
			pending[s.Relay] = rep
		}
		rep.Sightings = append(rep.Sightings, s.Sighting)
		if len(rep.Sightings) == tag.MaxReportSightings {
			return flush()
		}
		return nil
	})
	if err != nil {
		return sent, err
	}
	return sent, flush()
}

// simRelays returns the relay positions --relays names.
func simRelays(spec string) (map[string]tag.Point, error) {
	switch spec {
	case "town":
		return tag.Town(10, 10, 30, 1), nil
	case "ulb":
		return tag.ULBRelays(), nil
	}
	locs, _, err := importer.LoadLocationsFile(spec, importer.Options{})
	if err != nil {
		return nil, fmt.Errorf("--relays %s: %w", spec, err)
	}
	relays := make(map[string]tag.Point, len(locs))
	for id, l := range locs {
		if l.Kind != sensor.Plane {
			return nil, fmt.Errorf("--relays %s: relay %s has latitude and longitude; give x and y in metres", spec, id)
		}
		relays[id] = tag.Point{X: l.X, Y: l.Y}
	}
	if len(relays) == 0 {
		return nil, fmt.Errorf("--relays %s: no relays in the file", spec)
	}
	return relays, nil
}
