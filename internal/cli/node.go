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
	"github.com/yuinet/yui/tag"
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
		location      string
		position      string
		mapImage      string
		mapBounds     string
		sightingsKeep time.Duration
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
			// An empty name would quietly join the default network.
			if cmd.Flags().Changed("network") && network == "" {
				return fmt.Errorf("--network is empty: give a network name, or leave the flag out for %q", node.DefaultNetwork)
			}
			if sightingsKeep < 0 {
				return fmt.Errorf("invalid --sightings-keep %v: want a positive duration such as 72h, or 0 to keep sightings forever", sightingsKeep)
			}
			// In node.Config zero selects the default, and a negative
			// value keeps sightings forever.
			if sightingsKeep == 0 {
				sightingsKeep = -1
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
				Position:      position,
				SightingsKeep: sightingsKeep,
			}
			if cfg.Dashboard, err = dashboardConfig(location, mapImage, mapBounds); err != nil {
				return err
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
	f.StringVar(&location, "location", "", "the node's place on the dashboard map, X,Y: metres on the site plan, or longitude,latitude (env YUI_LOCATION)")
	f.StringVar(&position, "position", "", "the node's latitude and longitude in degrees, LAT,LON such as 50.81,4.38, which puts it in a geographic cluster for jobs; empty takes the cluster of the readings it ingests (env YUI_POSITION)")
	f.StringVar(&mapImage, "map-image", "", "URL of an image the dashboard draws under its map, such as a site plan the node serves or a local tile; needs --map-bounds (env YUI_MAP_IMAGE)")
	f.StringVar(&mapBounds, "map-bounds", "", "map coordinates of the --map-image corners: MINX,MINY,MAXX,MAXY (env YUI_MAP_BOUNDS)")
	f.DurationVar(&sightingsKeep, "sightings-keep", node.DefaultSightingsKeep, "how long the node keeps the tag sightings relays report to it, such as 72h; older ones are deleted every 10 minutes and ignored when locating a tag; 0 keeps them forever (env YUI_SIGHTINGS_KEEP)")
	return cmd
}

// dashboardConfig parses the dashboard's map flags.
func dashboardConfig(location, image, bounds string) (node.DashboardConfig, error) {
	var dc node.DashboardConfig
	if location != "" {
		v, err := parseFloats(location)
		if err != nil || len(v) != 2 {
			return dc, fmt.Errorf("invalid --location %q: want X,Y such as 120.5,34", location)
		}
		dc.Location = &tag.Point{X: v[0], Y: v[1]}
	}
	if (image == "") != (bounds == "") {
		return dc, fmt.Errorf("--map-image and --map-bounds go together: the image needs the map coordinates of its corners")
	}
	if image != "" {
		v, err := parseFloats(bounds)
		if err != nil || len(v) != 4 || v[0] >= v[2] || v[1] >= v[3] {
			return dc, fmt.Errorf("invalid --map-bounds %q: want MINX,MINY,MAXX,MAXY with each min below its max", bounds)
		}
		dc.MapURL, dc.MapBounds = image, &[4]float64{v[0], v[1], v[2], v[3]}
	}
	return dc, nil
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
