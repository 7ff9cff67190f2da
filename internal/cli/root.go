// Package cli implements the yui command line with cobra. Each command is
// a thin shell: it parses flags and calls the node package or a node's
// HTTP API.
package cli

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Execute runs the yui command line and returns the process exit code.
func Execute() int {
	root := newRootCommand()
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "yui:", err)
		return 1
	}
	return 0
}

// globalFlags are the flags every command takes.
type globalFlags struct {
	dataDir   string
	logFormat string
	logLevel  string
}

func newRootCommand() *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:   "yui",
		Short: "Yui: a serverless, self-organising peer-to-peer data platform",
		Long: `Yui runs the same program on every device. Nodes find one another with
no configuration, form a peer-to-peer overlay and keep working when
servers and the carrier network are down.

Start a node with 'yui node'; inspect it with 'yui status', 'yui peers'
and 'yui lookup'. Every flag can also be set through the environment
variable named in its help text.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return applyEnv(cmd)
		},
	}
	// Subcommands inherit this, so every unknown or invalid flag names the
	// help that lists the command's flags.
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return fmt.Errorf("%w; '%s --help' lists the flags", err, cmd.CommandPath())
	})
	pf := root.PersistentFlags()
	pf.StringVar(&g.dataDir, "data-dir", defaultDataDir(), "node data folder (env YUI_DATA_DIR)")
	pf.StringVar(&g.logFormat, "log-format", "text", "log format: text or json (env YUI_LOG_FORMAT)")
	pf.StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn or error (env YUI_LOG_LEVEL)")

	root.AddCommand(
		newNodeCommand(g),
		newStatusCommand(g),
		newPeersCommand(g),
		newLookupCommand(g),
		newDemoCommand(g),
		newSimCommand(),
		newVersionCommand(),
		newPutCommand(g),
		newGetCommand(g),
		newRmCommand(g),
		newLsCommand(g),
		newUserCommand(g),
		newGrantCommand(g),
		newNamespaceCommand(g),
		newRevokeCommand(g),
		newTagCommand(g),
		newImportCommand(g),
		newAuthorityCommand(g),
		newAlertCommand(g),
		newQueryCommand(g),
		newMsgCommand(g),
		newJobCommand(g),
	)
	return root
}

// defaultDataDir returns $XDG_DATA_HOME/yui, or ~/.local/share/yui.
func defaultDataDir() string {
	if xdg := os.Getenv("XDG_DATA_HOME"); xdg != "" {
		return filepath.Join(xdg, "yui")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(".", "yui-data")
	}
	return filepath.Join(home, ".local", "share", "yui")
}

// applyEnv sets every flag the user did not pass from its environment
// variable, YUI_ followed by the flag name in upper case with dashes as
// underscores.
func applyEnv(cmd *cobra.Command) error {
	var err error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed {
			return
		}
		name := "YUI_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		v, ok := os.LookupEnv(name)
		if !ok {
			return
		}
		// FlagSet.Set, unlike Value.Set, marks the flag as changed, so
		// a value from the environment counts as given by the user.
		if setErr := cmd.Flags().Set(f.Name, v); setErr != nil {
			err = fmt.Errorf("invalid %s=%q: %v", name, v, setErr)
		}
	})
	return err
}

// newLogger builds the slog logger the flags ask for.
func (g *globalFlags) newLogger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		return nil, fmt.Errorf("invalid --log-level %q: want debug, info, warn or error", g.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch g.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("invalid --log-format %q: want text or json", g.logFormat)
}
