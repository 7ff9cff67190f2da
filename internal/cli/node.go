package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/yuinet/yui/message"
	"github.com/yuinet/yui/network/hierarchy"
	"github.com/yuinet/yui/node"
)

func newNodeCommand(g *globalFlags) *cobra.Command {
	var (
		listen        string
		apiAddr       string
		bootstrap     []string
		network       string
		discoveryPort int
		tier          string
		mode          string
		maxClockSkew  time.Duration
		mqttAddr      string
		msgQuota      message.Quota
	)
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Run a node",
		Long: `Run a node until interrupted. With no flags at all the node creates its
identity in the default data folder, listens on UDP port 4717 (or a
free port if that is taken), finds nodes on the LAN and joins them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := g.newLogger(os.Stderr)
			if err != nil {
				return err
			}
			m, err := hierarchy.ParseMode(mode)
			if err != nil {
				return fmt.Errorf("--mode: %w", err)
			}
			cfg := node.Config{
				Mode:          m,
				DataDir:       g.dataDir,
				Bootstrap:     splitList(bootstrap),
				Network:       network,
				DiscoveryPort: discoveryPort,
				MaxClockSkew:  maxClockSkew,
				Tier:          tier,
				Logger:        log,
				MQTT:          mqttAddr,
				MsgQuota:      msgQuota,
			}
			// Addresses the user gave are used as given; the defaults
			// may move to a free port when taken.
			if cmd.Flags().Changed("listen") {
				cfg.Listen = listen
			}
			if cmd.Flags().Changed("api") {
				cfg.API = apiAddr
			}
			return runNode(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", ":"+strconv.Itoa(node.DefaultPort), "QUIC listen address, host:port (env YUI_LISTEN)")
	f.StringVar(&apiAddr, "api", "127.0.0.1:"+strconv.Itoa(node.DefaultAPIPort), "HTTP API address (env YUI_API)")
	f.StringSliceVar(&bootstrap, "bootstrap", nil, "host:port of nodes outside the LAN, comma-separated (env YUI_BOOTSTRAP)")
	f.StringVar(&network, "network", node.DefaultNetwork, "network name; nodes of other networks are ignored (env YUI_NETWORK)")
	f.IntVar(&discoveryPort, "discovery-port", node.DefaultDiscoveryPort, "UDP port of LAN beacons, -1 to turn discovery off (env YUI_DISCOVERY_PORT)")
	// Flat stays the default until the hierarchy has run on real networks
	// as long as flat Kademlia has.
	f.StringVar(&mode, "mode", "flat", "overlay mode: flat (every node in the DHT) or hier (each LAN elects representatives to the DHT) (env YUI_MODE)")
	f.DurationVar(&maxClockSkew, "max-clock-skew", 0, "how far a LAN beacon's clock may differ from this node's, e.g. 10m; 0 for the default of 5m, -1s to turn the check off on devices without a clock (env YUI_MAX_CLOCK_SKEW)")
	f.StringVar(&mqttAddr, "mqtt", node.DefaultMQTTAddr, "MQTT listener address for sensor readings on topics yui/NAMESPACE/SENSOR, or off; it does no authentication, so keep it on loopback or a trusted network; if the port is taken the node logs a warning and runs without MQTT (env YUI_MQTT)")
	f.IntVar(&msgQuota.Items, "msg-hold", message.DefaultQuota.Items, "most messages the node holds for other nodes' users (env YUI_MSG_HOLD)")
	f.IntVar(&msgQuota.SenderItems, "msg-hold-per-sender", message.DefaultQuota.SenderItems, "most messages the node holds from one sender for other nodes' users (env YUI_MSG_HOLD_PER_SENDER)")
	f.StringVar(&tier, "tier", "auto", "storage tier: upper, middle, lower (holds no data) or auto (env YUI_TIER)")
	return cmd
}

// runNode runs a node until SIGINT or SIGTERM, then shuts it down cleanly.
func runNode(ctx context.Context, cfg node.Config) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	n, err := node.Start(ctx, cfg)
	if err != nil {
		return err
	}
	<-ctx.Done()
	cfg.Logger.Info("shutting down", "reason", context.Cause(ctx))
	return n.Close()
}

// splitList flattens comma-separated values and drops empty ones.
func splitList(values []string) []string {
	var out []string
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
	}
	return out
}
