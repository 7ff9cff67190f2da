package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/network/identity"
	"github.com/yuinet/yui/node"
)

// requestTimeout bounds one CLI call to a node's API that may wait on the
// network, such as a lookup; statusTimeout bounds calls that only read the
// node's own state.
const (
	requestTimeout = 45 * time.Second
	statusTimeout  = 5 * time.Second
)

func newStatusCommand(g *globalFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show a running node's ID, addresses, uptime and routing table",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			client, ctx, cancel, err := connectFor(cmd.Context(), g, statusTimeout)
			if err != nil {
				return err
			}
			defer cancel()
			s, err := client.Status(ctx)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), s)
			}
			printStatus(cmd.OutOrStdout(), s)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func printStatus(w io.Writer, s *api.Status) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "ID\t%s\n", s.ID)
	fmt.Fprintf(tw, "Network\t%s\n", s.Network)
	fmt.Fprintf(tw, "Listen\t%s (QUIC)\n", s.Listen)
	if s.Discovery != "" {
		fmt.Fprintf(tw, "Discovery\t%s (UDP beacons)\n", s.Discovery)
	}
	fmt.Fprintf(tw, "API\thttp://%s\n", s.API)
	fmt.Fprintf(tw, "Data folder\t%s\n", s.DataDir)
	fmt.Fprintf(tw, "Uptime\t%s\n", (time.Duration(s.Uptime) * time.Second).String())
	fmt.Fprintf(tw, "Peers\t%d\n", s.Peers)
	fmt.Fprintf(tw, "Mode\t%s\n", s.Mode)
	fmt.Fprintf(tw, "Role\t%s\n", s.Role)
	if s.Mode == "hier" {
		fmt.Fprintf(tw, "Group\t%d other members\n", s.Group)
		for i, c := range s.Representatives {
			label := ""
			if i == 0 {
				label = "Representatives"
			}
			fmt.Fprintf(tw, "%s\t%s %s\n", label, c.ID.Short(), c.Addr)
		}
	}
	if s.ComputeTier != "" {
		fmt.Fprintf(tw, "Compute tier\t%s\n", computeLine(s))
	}
	if s.Cluster != "" {
		fmt.Fprintf(tw, "Cluster\t%s\n", s.Cluster)
	}
	fmt.Fprintf(tw, "Version\t%s\n", s.Version)
	tw.Flush()

	if len(s.Buckets) == 0 {
		return
	}
	fmt.Fprintln(w, "\nBuckets (shared prefix bits: contacts + replacements)")
	var parts []string
	for _, b := range s.Buckets {
		parts = append(parts, fmt.Sprintf("%d:%d+%d", b.Index, b.Contacts, b.Replacements))
	}
	fmt.Fprintln(w, "  "+strings.Join(parts, "  "))
}

func newPeersCommand(g *globalFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "peers",
		Short: "List a running node's contacts with their RTT, uptime and failures",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			client, ctx, cancel, err := connectFor(cmd.Context(), g, statusTimeout)
			if err != nil {
				return err
			}
			defer cancel()
			peers, err := client.Peers(ctx)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), peers)
			}
			printPeers(cmd.OutOrStdout(), peers)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func printPeers(w io.Writer, peers []api.Peer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tADDRESS\tBUCKET\tRTT\tUPTIME\tLAST SEEN\tFAILURES")
	for _, p := range peers {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s ago\t%d\n",
			p.ID.Short(), p.Addr, p.Bucket, formatMs(p.RTTMs),
			seconds(p.Uptime), seconds(p.LastAgo), p.Failures)
	}
	tw.Flush()
	fmt.Fprintf(w, "%d peers\n", len(peers))
}

func newLookupCommand(g *globalFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "lookup KEY|ID",
		Short: "Find the nodes closest to a key or node ID",
		Long: `Run an iterative lookup on the node and print the closest nodes, the
hops and the time it took. An argument of 64 hexadecimal digits is a
node ID; anything else is a key, looked up by its SHA-256 hash.`,
		Args: func(cmd *cobra.Command, args []string) error {
			return rangeArgs("lookup", "KEY|ID", 1, 1, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			client, ctx, cancel, err := connect(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer cancel()
			res, err := client.Lookup(ctx, api.LookupRequest{Target: parseTarget(args[0])})
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), res)
			}
			printLookup(cmd.OutOrStdout(), res)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// parseTarget reads a node ID, or hashes any other string into a key.
func parseTarget(s string) identity.NodeID {
	if id, err := identity.ParseID(s); err == nil {
		return id
	}
	return identity.KeyID([]byte(s))
}

func printLookup(w io.Writer, res *api.LookupResult) {
	fmt.Fprintf(w, "Target %s\n", res.Target)
	fmt.Fprintf(w, "%d nodes in %s, %d hops, %d queried, %d failed\n\n",
		len(res.Closest), formatMs(res.DurationMs), res.Hops, res.Queried, res.Failed)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tID\tADDRESS\tDISTANCE")
	for i, c := range res.Closest {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s…\n", i+1, c.ID.Short(), c.Addr, c.Distance[:16])
	}
	tw.Flush()
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the program's version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, args []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "yui", node.Version)
		},
	}
}

// connect finds the node of the data folder and bounds the call's time
// to requestTimeout.
func connect(ctx context.Context, g *globalFlags) (*api.Client, context.Context, context.CancelFunc, error) {
	return connectFor(ctx, g, requestTimeout)
}

// connectFor finds the node of the data folder, checks that the node
// answering at the recorded address runs on that folder, and bounds the
// call's time. A node killed without a clean stop leaves its api.addr
// behind, and another node may since have taken the port.
func connectFor(ctx context.Context, g *globalFlags, timeout time.Duration) (*api.Client, context.Context, context.CancelFunc, error) {
	client, err := api.FindNode(g.dataDir)
	if err != nil {
		return nil, nil, nil, err
	}
	if ctx == nil {
		ctx = context.Background()
	}

	check, cancelCheck := context.WithTimeout(ctx, statusTimeout)
	defer cancelCheck()
	s, err := client.Status(check)
	if err != nil {
		return nil, nil, nil, err
	}
	if !sameDir(s.DataDir, g.dataDir) {
		return nil, nil, nil, fmt.Errorf("%w in %s: its api.addr names %s, where the node of %s (ID %s) answers; "+
			"the node of this folder is not running, start it with 'yui node --data-dir %s'",
			api.ErrNoNode, g.dataDir, client.Base, s.DataDir, s.ID.Short(), g.dataDir)
	}

	ctx, cancel := context.WithTimeout(ctx, timeout)
	return client, ctx, cancel, nil
}

// sameDir reports whether a and b name the same folder.
func sameDir(a, b string) bool {
	ia, errA := os.Stat(a)
	ib, errB := os.Stat(b)
	if errA == nil && errB == nil {
		return os.SameFile(ia, ib)
	}
	return filepath.Clean(a) == filepath.Clean(b)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func formatMs(ms float64) string {
	if ms == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fms", ms)
}

func seconds(s float64) string {
	return (time.Duration(s * float64(time.Second))).Round(time.Second).String()
}
