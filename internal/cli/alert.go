package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/yuinet/yui/alert"
	"github.com/yuinet/yui/api"
)

func newAlertCommand(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "alert",
		Short: "Send, list and watch disaster alerts",
		Long: `Alerts are short signed messages that every node floods to every node it
can reach, over QUIC and LAN broadcast, with no server. Nodes keep them
until they expire and hand them to nodes they meet later. Only alerts
signed by a trusted authority travel (see 'yui authority').`,
	}
	cmd.AddCommand(newAlertSendCommand(g), newAlertListCommand(g), newAlertWatchCommand(g))
	return cmd
}

func newAlertSendCommand(g *globalFlags) *cobra.Command {
	var (
		level, area, authority string
		expires                time.Duration
	)
	cmd := &cobra.Command{
		Use:   "send TEXT",
		Short: "Sign an alert with a local authority key and flood it from the node",
		Example: `  yui alert send --level evacuate --area 35.68,139.76,2500 "Tsunami: go to high ground now"
  yui alert send --level warning --area "35.6,139.7;35.7,139.7;35.7,139.8" --expires 6h "Flooding expected"`,
		Args: func(cmd *cobra.Command, args []string) error {
			return rangeArgs("alert send", "TEXT", 1, 1, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := buildAlert(level, area, expires, args[0])
			if err != nil {
				return err
			}
			signer, err := localSigner(g.dataDir, authority)
			if err != nil {
				return err
			}
			// A malformed alert is refused here, before it takes a
			// sequence number or needs a running node.
			a.Authority = signer.Name
			if err := a.Validate(); err != nil {
				return err
			}
			client, ctx, cancel, err := connect(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer cancel()

			if a.Sequence, err = alert.NextSequence(g.dataDir, signer.Name); err != nil {
				return err
			}
			signed, err := alert.Sign(a, signer)
			if err != nil {
				return err
			}
			sent, err := client.SendAlert(ctx, signed.Raw)
			if err != nil && strings.Contains(err.Error(), "replayed") {
				seqFile := filepath.Join(g.dataDir, alert.KeysDir, signer.Name+".seq")
				return fmt.Errorf("%w (if %s was reset or copied, write a number above the highest sequence the nodes have seen into it)", err, seqFile)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "sent alert %s: %s #%d, %s, expires %s\n", sent.ID[:16],
				sent.Authority, sent.Sequence, sent.Level, sent.Expires.Local().Format(time.RFC3339))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&level, "level", "info", "severity: info, warning or evacuate")
	f.StringVar(&area, "area", "", `where the alert applies: a circle "LAT,LON,RADIUS_M" or a polygon "LAT,LON;LAT,LON;LAT,LON;..."; empty for everywhere`)
	f.DurationVar(&expires, "expires", 24*time.Hour, "how long the alert stays valid, at most 168h")
	f.StringVar(&authority, "authority", "", "authority to sign as; may be left out when the data folder holds one key")
	return cmd
}

// buildAlert turns the flags of 'yui alert send' into an unsigned alert.
func buildAlert(level, area string, expires time.Duration, text string) (alert.Alert, error) {
	l, err := alert.ParseLevel(level)
	if err != nil {
		return alert.Alert{}, err
	}
	if expires <= 0 {
		return alert.Alert{}, fmt.Errorf("invalid --expires %s: want a positive duration such as 6h", expires)
	}
	ar, err := parseArea(area)
	if err != nil {
		return alert.Alert{}, err
	}
	now := time.Now()
	return alert.Alert{Level: l, Area: ar, Issued: now, Expires: now.Add(expires), Text: text}, nil
}

// parseArea reads --area: "LAT,LON,RADIUS_M" for a circle, or at least
// three "LAT,LON" vertices separated by ';' for a polygon.
func parseArea(s string) (*alert.Area, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	bad := func(why string) error {
		return fmt.Errorf(`invalid --area %q: %s; want "LAT,LON,RADIUS_M" or "LAT,LON;LAT,LON;LAT,LON"`, s, why)
	}
	parts := strings.Split(s, ";")
	if len(parts) == 1 {
		v, err := parseFloats(parts[0])
		if err != nil || len(v) != 3 {
			return nil, bad("a circle takes three numbers")
		}
		return &alert.Area{Center: &alert.Point{Lat: v[0], Lon: v[1]}, Radius: v[2]}, nil
	}
	var poly []alert.Point
	for _, p := range parts {
		v, err := parseFloats(p)
		if err != nil || len(v) != 2 {
			return nil, bad(fmt.Sprintf("vertex %q is not LAT,LON", p))
		}
		poly = append(poly, alert.Point{Lat: v[0], Lon: v[1]})
	}
	return &alert.Area{Polygon: poly}, nil
}

func parseFloats(s string) ([]float64, error) {
	var v []float64
	for _, f := range strings.Split(s, ",") {
		x, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			return nil, err
		}
		v = append(v, x)
	}
	return v, nil
}

// localSigner loads the key of the named authority, or of the only one
// the data folder holds when name is empty.
func localSigner(dataDir, name string) (alert.Signer, error) {
	if name != "" {
		return alert.LoadSigner(dataDir, name)
	}
	names, err := alert.Signers(dataDir)
	if err != nil {
		return alert.Signer{}, err
	}
	switch len(names) {
	case 0:
		return alert.Signer{}, fmt.Errorf("%w in %s: create one with 'yui authority create NAME'", alert.ErrNoKey, dataDir)
	case 1:
		return alert.LoadSigner(dataDir, names[0])
	}
	return alert.Signer{}, fmt.Errorf("%s contains keys of %d authorities (%s): choose one with --authority",
		dataDir, len(names), strings.Join(names, ", "))
}

func newAlertListCommand(g *globalFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List the alerts the node holds, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			client, ctx, cancel, err := connect(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer cancel()
			list, err := client.Alerts(ctx)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSONOut(cmd.OutOrStdout(), list)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ISSUED\tLEVEL\tAUTHORITY\tSEQ\tEXPIRES\tTEXT")
			for _, a := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", a.Issued.Local().Format(time.DateTime), a.Level,
					a.Authority, a.Sequence, a.Expires.Local().Format(time.DateTime), a.Text)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newAlertWatchCommand(g *globalFlags) *cobra.Command {
	var asJSON, held bool
	cmd := &cobra.Command{
		Use:   "watch",
		Short: "Print alerts as the node accepts them, until interrupted",
		Long: `Print alerts as the node accepts them, until interrupted. When the
node stops or restarts, watch says so on standard error and connects again,
waiting up to 30 s between attempts; it then prints the alerts the node
accepted meanwhile, and none twice.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			// A handler of its own, because a shell script starts a
			// background command with SIGINT ignored, and the watch would
			// then ignore Ctrl-C for good once brought to the foreground.
			ctx, stop := interruptible(cmd.Context())
			defer stop()
			w := &alertWatch{g: g, out: cmd.OutOrStdout(), errOut: cmd.ErrOrStderr(), asJSON: asJSON,
				printed: make(map[alertID]bool), retryMax: alertWatchRetryMax}
			return w.run(ctx, held)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per line")
	cmd.Flags().BoolVar(&held, "held", false, "print the alerts the node holds first")
	return cmd
}

// alertWatchRetryMax is the longest wait between two attempts of
// 'yui alert watch' to reach its node again.
const alertWatchRetryMax = 30 * time.Second

// maxPrintedAlerts bounds the alerts watch remembers to skip repeats;
// past it the set starts over, so a repeat older than that may print again.
const maxPrintedAlerts = 100_000

// alertID names an alert: its authority and that authority's sequence.
type alertID struct {
	authority string
	sequence  uint64
}

// alertWatch prints a node's alert stream and follows the node across
// restarts.
type alertWatch struct {
	g           *globalFlags
	out, errOut io.Writer
	asJSON      bool
	printed     map[alertID]bool
	retryMax    time.Duration
	// streams counts the streams opened, for tests.
	streams atomic.Int64
}

// run watches until ctx ends. The first stream starts with the held
// alerts only when held is set. Every later stream starts with them, so
// alerts accepted while the node was out of reach are printed too.
func (w *alertWatch) run(ctx context.Context, held bool) error {
	wait := time.Second
	for attempt := 0; ; attempt++ {
		err := w.stream(ctx, held || attempt > 0)
		if ctx.Err() != nil {
			return nil
		}
		if attempt == 0 && errors.Is(err, api.ErrNoNode) {
			// The first connection fails as every command's does.
			return err
		}
		reason := "the node closed the alert stream"
		if err != nil {
			reason = err.Error()
		}
		fmt.Fprintf(w.errOut, "alert watch: %s; connecting again in %v\n", reason, wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(2*wait, w.retryMax)
	}
}

// stream connects to the node and prints its alerts until the stream
// ends, skipping alerts printed before.
func (w *alertWatch) stream(ctx context.Context, held bool) error {
	client, callCtx, cancel, err := connect(ctx, w.g)
	if err != nil {
		return err
	}
	if !held {
		// The alerts the node holds now are not printed. Remember them,
		// so that the stream after a restart, which starts with every
		// held alert, does not print them either.
		heldNow, err := client.Alerts(callCtx)
		if err != nil {
			cancel()
			return err
		}
		w.remember(heldNow)
	}
	cancel()
	if w.streams.Add(1) == 1 {
		fmt.Fprintln(w.errOut, "alert watch: waiting for alerts; press Ctrl-C to stop")
	} else {
		fmt.Fprintln(w.errOut, "alert watch: connected again")
	}
	return client.WatchAlerts(ctx, held, func(a api.Alert) error {
		id := alertID{a.Authority, a.Sequence}
		if w.printed[id] {
			return nil
		}
		if len(w.printed) >= maxPrintedAlerts {
			clear(w.printed)
		}
		w.printed[id] = true
		return printAlert(w.out, a, w.asJSON)
	})
}

// remember marks alerts as printed.
func (w *alertWatch) remember(alerts []api.Alert) {
	for _, a := range alerts {
		if len(w.printed) >= maxPrintedAlerts {
			clear(w.printed)
		}
		w.printed[alertID{a.Authority, a.Sequence}] = true
	}
}

func printAlert(w io.Writer, a api.Alert, asJSON bool) error {
	if asJSON {
		b, err := json.Marshal(a)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	_, err := fmt.Fprintf(w, "%s  %-8s  %s #%d: %s\n", a.Issued.Local().Format(time.DateTime),
		strings.ToUpper(a.Level), a.Authority, a.Sequence, a.Text)
	return err
}

func writeJSONOut(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
