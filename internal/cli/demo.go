package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/node"
)

func newDemoCommand(g *globalFlags) *cobra.Command {
	var (
		nodes   int
		lookups int
		kill    int
		data    string
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Start a local network, store real sensor data encrypted, query it, stop nodes and query again",
		Long: `Start a small network of nodes on 127.0.0.1 inside this process, each
with its own identity and data folder under a temporary folder. The
demo waits for the overlay to form and checks lookups against the true
closest nodes. It then imports the ULB library sensor readings
(shared/data/sensors/ulb-library1/R*.txt, found in this folder or a
parent, or --data), which the nodes store encrypted and index with a
blind index, and runs queries and aggregates over them. Then it stops
some nodes without warning the others and runs everything again: the
answers must be identical. Everything is removed when it ends.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := g.newLogger(io.Discard)
			if err != nil {
				return err
			}
			if g.logLevel == "debug" {
				log, _ = g.newLogger(os.Stderr)
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			d := &demo{out: cmd.OutOrStdout(), log: log, nodes: nodes, lookups: lookups, kill: kill, data: data}
			return d.run(ctx)
		},
	}
	f := cmd.Flags()
	f.IntVar(&nodes, "nodes", 6, "number of nodes to start")
	f.IntVar(&lookups, "lookups", 50, "number of random keys to look up in each round")
	f.IntVar(&kill, "kill", 2, "number of nodes to stop without warning before the second round")
	f.StringVar(&data, "data", "", "folder with the ULB library files R*.txt (default: shared/data/sensors/ulb-library1 in this folder or a parent)")
	return cmd
}

type demo struct {
	out     io.Writer
	log     *slog.Logger
	nodes   int
	lookups int
	kill    int
	data    string

	dir   string
	alive []*node.Node
}

func (d *demo) run(ctx context.Context) error {
	if d.nodes < 2 || d.kill >= d.nodes-1 || d.kill < 0 || d.lookups < 1 {
		return fmt.Errorf("invalid demo size: --nodes %d, --kill %d, --lookups %d (want nodes ≥ 2, 0 ≤ kill < nodes-1, lookups ≥ 1)",
			d.nodes, d.kill, d.lookups)
	}
	// Find the dataset before starting anything, so a missing one fails
	// at once.
	if _, err := d.datasetFiles(); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "yui-demo-")
	if err != nil {
		return fmt.Errorf("create demo folder: %w", err)
	}
	d.dir = dir
	defer os.RemoveAll(dir)
	defer d.stopAll()

	start := time.Now()
	if err := d.startNodes(ctx); err != nil {
		return err
	}
	if err := d.waitForm(ctx); err != nil {
		return err
	}
	fmt.Fprintf(d.out, "%d nodes formed an overlay in %s\n\n", d.nodes, time.Since(start).Round(time.Millisecond))
	d.printNodes()
	if err := d.lookupRound(ctx, "all nodes up"); err != nil {
		return err
	}
	fmt.Fprintln(d.out)

	if err := d.importDataset(ctx); err != nil {
		return err
	}
	first, err := d.firstReading(ctx)
	if err != nil {
		return err
	}
	queries := demoQueries(first)
	before, took, err := d.queryRound(ctx, 0, queries, true)
	if err != nil {
		return err
	}
	fmt.Fprintf(d.out, "%d queries with all nodes up took %s\n", len(queries), millis(took))

	d.killSome()
	if err := d.lookupRound(ctx, fmt.Sprintf("after %d of %d nodes stopped", d.kill, d.nodes)); err != nil {
		return err
	}
	after, took, err := d.queryRound(ctx, 0, queries, false)
	if err != nil {
		return err
	}
	if err := sameAnswers(queries, before, after); err != nil {
		return err
	}
	fmt.Fprintf(d.out, "The same %d queries after %d of %d nodes stopped took %s: every answer is identical\n",
		len(queries), d.kill, d.nodes, millis(took))
	fmt.Fprintf(d.out, "Demo finished in %s\n", time.Since(start).Round(time.Millisecond))
	return nil
}

func (d *demo) startNodes(ctx context.Context) error {
	for i := range d.nodes {
		cfg := node.Config{
			DataDir:       fmt.Sprintf("%s/node-%02d", d.dir, i),
			Listen:        "127.0.0.1:0",
			API:           "127.0.0.1:0",
			DiscoveryPort: -1,
			MQTT:          node.MQTTOff,
			Logger:        d.log,
		}
		if i > 0 {
			cfg.Bootstrap = []string{d.alive[0].Addr().String()}
		}
		n, err := node.Start(ctx, cfg)
		if err != nil {
			return fmt.Errorf("start node %d: %w", i, err)
		}
		d.alive = append(d.alive, n)
	}
	return nil
}

// waitForm waits until every node knows every other one or 20 s pass.
func (d *demo) waitForm(ctx context.Context) error {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if d.minPeers() == len(d.alive)-1 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("overlay did not form in 20 s: the least connected node knows %d of %d others",
		d.minPeers(), len(d.alive)-1)
}

func (d *demo) minPeers() int {
	least := len(d.alive)
	for _, n := range d.alive {
		least = min(least, len(n.Peers()))
	}
	return least
}

func (d *demo) printNodes() {
	tw := tabwriter.NewWriter(d.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tID\tADDRESS\tPEERS")
	for i, n := range d.alive {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\n", i, n.ID().Short(), n.Addr(), len(n.Peers()))
	}
	tw.Flush()
	fmt.Fprintln(d.out)
}

// lookupRound looks up random keys from rotating nodes and checks every
// answer against the true closest live node.
func (d *demo) lookupRound(ctx context.Context, title string) error {
	var ok, hops int
	var total time.Duration
	for i := range d.lookups {
		target := identity.KeyID([]byte(fmt.Sprintf("demo-key-%d", i)))
		from := d.alive[i%len(d.alive)]
		res, err := from.Lookup(ctx, target)
		if err != nil {
			return err
		}
		if len(res.Closest) > 0 && res.Closest[0].ID == d.trueClosest(target, from) {
			ok++
		}
		hops += res.Hops
		total += res.Finished.Sub(res.Started)
	}
	fmt.Fprintf(d.out, "Lookups, %s: %d/%d found the true closest node; mean %.1f hops, %s\n",
		title, ok, d.lookups, float64(hops)/float64(d.lookups),
		(total / time.Duration(d.lookups)).Round(10*time.Microsecond))
	if ok < d.lookups {
		return fmt.Errorf("%d of %d lookups missed the closest node", d.lookups-ok, d.lookups)
	}
	return nil
}

// trueClosest returns the live node closest to target other than from,
// which a lookup never returns itself.
func (d *demo) trueClosest(target identity.NodeID, from *node.Node) identity.NodeID {
	var ids []identity.NodeID
	for _, n := range d.alive {
		if n != from {
			ids = append(ids, n.ID())
		}
	}
	return slices.MinFunc(ids, func(a, b identity.NodeID) int {
		return identity.Compare(identity.Xor(a, target), identity.Xor(b, target))
	})
}

// killSome stops the last d.kill nodes without telling their neighbours,
// as a crash or a power cut would.
func (d *demo) killSome() {
	gone := d.alive[len(d.alive)-d.kill:]
	d.alive = d.alive[:len(d.alive)-d.kill]
	var names []string
	for _, n := range gone {
		names = append(names, n.ID().Short())
		n.Kill()
	}
	fmt.Fprintf(d.out, "\nStopped %s without warning\n\n", strings.Join(names, ", "))
}

func (d *demo) stopAll() {
	for _, n := range d.alive {
		n.Close()
	}
	fmt.Fprintln(d.out, "\nAll nodes stopped.")
}
