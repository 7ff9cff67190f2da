package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/yuinet/yui/sim"
	"github.com/yuinet/yui/sim/town"
)

// ulbLinksFile is the neighbour file of the ULB library deployment under
// the shared data folder.
var ulbLinksFile = filepath.Join("sensors", "ulb-library1", "N1.txt")

// errNoLinks reports that no ULB neighbour file was found.
var errNoLinks = errors.New("no ULB neighbour file found")

// simTownFlags are the flags of 'yui sim town'.
type simTownFlags struct {
	graph      string
	links      string
	relays     int
	area       float64
	degree     float64
	fail       float64
	churn      float64
	downTime   time.Duration
	people     int
	speed      float64
	moveStep   time.Duration
	seeds      int
	protocol   string
	hopLimit   int
	sync       time.Duration
	hopLatency time.Duration
	duration   time.Duration
	json       bool
	sweep      bool
	p2p        bool
}

func newSimTownCommand(sf *simFlags) *cobra.Command {
	f := &simTownFlags{}
	cmd := &cobra.Command{
		Use:   "town",
		Short: "Flood a disaster alert over a damaged radio mesh",
		Long: `Send one alert from a random relay of a radio mesh and measure who gets
it: the delivery ratio, the latency percentiles and the transmissions per
delivered receiver, next to the connectivity limit, the share of
receivers that links between working nodes connected to the sender at
some time of the run.

--graph ulb uses the measured neighbour graph of the ULB library
deployment (N1.txt); --graph generated places --relays relays in a town
of --area km² with link statistics fitted to that graph, so both read
N1.txt (--links). --fail takes a share of relays down for the whole run,
--churn makes the others fail and recover, --people adds walking people
with radios (generated towns only).
--protocol yui runs the alert flood of package alert on every node: it
stores the alert until expiry and hands it to neighbours that appear
later. store is the simulator's broadcast-only variant of the same idea,
with beacons in place of per-neighbour summaries. flood rebroadcasts the
alert once with a hop limit, as LoRa mesh radios do.

--point-to-point counts one random destination per seed in place of
every node, as for a message between two people. --sweep runs the
protocols at 0 to 50% failed relays and writes a table and plots of
delivery and latency into --out.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, sf)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.graph, "graph", "ulb", "mesh: ulb (measured) or generated")
	fl.StringVar(&f.links, "links", "", "ULB neighbour file, read by both graphs; default: shared/data/"+filepath.ToSlash(ulbLinksFile)+" in this folder or a parent")
	fl.IntVar(&f.relays, "relays", 500, "relays of a generated town")
	fl.Float64Var(&f.area, "area", 4, "area of a generated town in km²")
	fl.Float64Var(&f.degree, "degree", 0, "mean number of relays each relay hears in a generated town; 0 takes the measured mean")
	fl.Float64Var(&f.fail, "fail", 0.3, "share of relays down for the whole run, 0 to 1")
	fl.Float64Var(&f.churn, "churn", 0, "share of time each other relay spends down, failing and recovering, 0 to below 1")
	fl.DurationVar(&f.downTime, "down-time", 2*time.Minute, "mean time a churning relay stays down")
	fl.IntVar(&f.people, "people", 0, "people walking with radios (generated towns only)")
	fl.Float64Var(&f.speed, "speed", 1.4, "walking speed in m/s")
	fl.DurationVar(&f.moveStep, "move-step", 10*time.Second, "time between position updates of the people")
	fl.IntVar(&f.seeds, "seeds", 5, "runs, with seeds --seed, --seed+1, ...; a generated town is drawn anew for each")
	fl.StringVar(&f.protocol, "protocol", "both", "yui, store, flood, both (yui and flood) or all")
	fl.IntVar(&f.hopLimit, "hop-limit", town.DefaultHopLimit, "hop limit of flood")
	fl.DurationVar(&f.sync, "sync", 10*time.Second, "interval of the summaries (yui) and beacons (store) that repair lost pushes")
	fl.DurationVar(&f.hopLatency, "hop-latency", 10*time.Millisecond, "mean channel access and airtime of one transmission")
	fl.DurationVar(&f.duration, "duration", 10*time.Minute, "simulated time after the alert is sent, also its lifetime")
	fl.BoolVar(&f.json, "json", false, "print the table as JSON")
	fl.BoolVar(&f.p2p, "point-to-point", false, "send one message per seed to a random node and count only that node, the store-and-forward case")
	fl.BoolVar(&f.sweep, "sweep", false, "run 0, 10, ..., 50% failed relays and write town-sweep-GRAPH tables and plot into --out")
	return cmd
}

func (f *simTownFlags) run(cmd *cobra.Command, sf *simFlags) error {
	protocols, err := f.protocols()
	if err != nil {
		return err
	}
	exp, fit, err := f.experiment(sf.seed)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if f.sweep {
		return f.runSweep(cmd, sf, exp, fit, protocols)
	}

	var sums []town.Summary
	for _, p := range protocols {
		s, err := exp.Run(p)
		if err != nil {
			return err
		}
		sums = append(sums, s)
	}
	t := town.SummaryTable("town", f.title(), sums)
	if f.json {
		return t.Write(out, sim.JSON)
	}
	return t.WriteText(out)
}

func (f *simTownFlags) runSweep(cmd *cobra.Command, sf *simFlags, exp *town.Experiment, fit town.Fit, protocols []town.Protocol) error {
	format, err := sim.ParseFormat(sf.format)
	if err != nil {
		return err
	}
	shares := []float64{0, 0.1, 0.2, 0.3, 0.4, 0.5}
	sums, err := exp.Sweep(shares, protocols)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(sf.out, 0o755); err != nil {
		return fmt.Errorf("create output folder: %w", err)
	}

	name := "town-sweep-" + f.graph
	t := town.SummaryTable(name, f.title()+", 0–50% of relays failed", sums)
	out := cmd.OutOrStdout()
	if f.json {
		err = t.Write(out, sim.JSON)
	} else {
		err = t.WriteText(out)
	}
	if err != nil {
		return err
	}
	if f.graph == "generated" && !f.json {
		if err := f.writeLinkTable(cmd, exp, fit, sf.seed); err != nil {
			return err
		}
	}
	tablePath := filepath.Join(sf.out, name+"."+string(format))
	if err := t.WriteFile(tablePath, format); err != nil {
		return err
	}
	plotPath := filepath.Join(sf.out, name+".svg")
	if err := town.SweepPlot(plotPath, "Alert delivery, "+f.graphTitle(), sums); err != nil {
		return err
	}
	latencyPath := filepath.Join(sf.out, name+"-latency.svg")
	if err := town.LatencyPlot(latencyPath, "Alert latency, "+f.graphTitle(), sums); err != nil {
		return err
	}
	if !f.json {
		fmt.Fprintf(out, "wrote %s, %s and %s\n", tablePath, plotPath, latencyPath)
	}
	return nil
}

// writeLinkTable prints the measured link statistics next to those of the
// first seed's generated town.
func (f *simTownFlags) writeLinkTable(cmd *cobra.Command, exp *town.Experiment, fit town.Fit, seed uint64) error {
	path, err := f.linksPath()
	if err != nil {
		return err
	}
	data, err := town.LoadULB(path)
	if err != nil {
		return err
	}
	g, err := exp.Graph(seed)
	if err != nil {
		return err
	}
	return town.FitTable(fit, data.Graph(fit).Stats(), g.Stats()).WriteText(cmd.OutOrStdout())
}

// experiment builds the scenario from the flags and the fitted link
// model.
func (f *simTownFlags) experiment(firstSeed uint64) (*town.Experiment, town.Fit, error) {
	path, err := f.linksPath()
	if err != nil {
		return nil, town.Fit{}, err
	}
	data, err := town.LoadULB(path)
	if err != nil {
		return nil, town.Fit{}, err
	}
	fit, err := town.FitULB(data)
	if err != nil {
		return nil, town.Fit{}, err
	}

	exp := &town.Experiment{
		Options: town.Options{
			Fail: f.fail, Churn: f.churn, DownTime: f.downTime,
			People: f.people, Speed: f.speed, MoveStep: f.moveStep,
			HopLatency: f.hopLatency, Duration: f.duration,
			PointToPoint: f.p2p,
		},
		Seeds: f.seeds, FirstSeed: firstSeed,
	}
	switch f.graph {
	case "ulb":
		g := data.Graph(fit)
		exp.Graph = func(uint64) (*town.Graph, error) { return g, nil }
	case "generated":
		exp.Graph = func(seed uint64) (*town.Graph, error) {
			return town.Generate(fit, town.GenerateOptions{Relays: f.relays, AreaKm2: f.area, Degree: f.degree, Seed: seed})
		}
	default:
		return nil, town.Fit{}, fmt.Errorf("invalid --graph %q: use ulb or generated", f.graph)
	}
	return exp, fit, nil
}

func (f *simTownFlags) protocols() ([]town.Protocol, error) {
	yui, err := town.NewAlertCore(f.sync)
	if err != nil {
		return nil, err
	}
	store := town.StoreForward{BeaconInterval: f.sync}
	flood := town.Flood{HopLimit: f.hopLimit, Retries: 3, AckTimeout: 10 * f.hopLatency}
	switch f.protocol {
	case "yui":
		return []town.Protocol{yui}, nil
	case "store":
		return []town.Protocol{store}, nil
	case "flood":
		return []town.Protocol{flood}, nil
	case "both":
		return []town.Protocol{yui, flood}, nil
	case "all":
		return []town.Protocol{yui, store, flood}, nil
	}
	return nil, fmt.Errorf("invalid --protocol %q: use yui, store, flood, both or all", f.protocol)
}

func (f *simTownFlags) graphTitle() string {
	if f.graph == "generated" {
		return fmt.Sprintf("generated town of %d relays on %g km²", f.relays, f.area)
	}
	return "ULB library graph (19 relays)"
}

func (f *simTownFlags) title() string {
	what := "Alert delivery"
	if f.p2p {
		what = "Point-to-point message delivery"
	}
	parts := []string{what + " on the " + f.graphTitle()}
	if !f.sweep {
		parts = append(parts, fmt.Sprintf("%g%% failed", 100*f.fail))
	}
	if f.churn > 0 {
		parts = append(parts, fmt.Sprintf("churn %g%% (mean down %v)", 100*f.churn, f.downTime))
	}
	if f.people > 0 {
		parts = append(parts, fmt.Sprintf("%d people", f.people))
	}
	parts = append(parts, fmt.Sprintf("%d seeds, flood hop limit %d", f.seeds, f.hopLimit))
	return strings.Join(parts, ", ")
}

// linksPath returns --links, or the ULB neighbour file under shared/data
// in the working folder or one of its parents.
func (f *simTownFlags) linksPath() (string, error) {
	if f.links != "" {
		return f.links, nil
	}
	path, err := findShared(ulbLinksFile)
	if err != nil {
		return "", fmt.Errorf("%w: %v; pass --links FILE", errNoLinks, err)
	}
	return path, nil
}
