package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/tag"
)

func newTagCommand(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tag",
		Short: "Keep and locate radio tags that only their guardians can follow",
		Long: `Radio tags carried by children or elderly people broadcast an identifier
that changes every 10 minutes. Relays report what they hear to a node
(POST /v1/sightings); only a tag's guardians hold the secret that links
the identifiers to the tag, so only they can locate it.

'yui tag add' creates a tag and its secret, 'yui tag share' lets another
user locate it, 'yui tag where' locates it, and 'yui tag simulate' sends
the sightings of simulated tags to the local node.`,
	}
	cmd.AddCommand(newTagAddCommand(g), newTagShareCommand(g), newTagWhereCommand(g), newTagSimulateCommand(g))
	return cmd
}

// tagNamespace returns the namespace of the tags of owner, a user of the
// node that client talks to.
func tagNamespace(ctx context.Context, client *api.Client, owner string) (string, error) {
	u, err := findLocalUser(ctx, client, owner)
	if err != nil {
		return "", err
	}
	return api.TagNamespace(u.Fingerprint), nil
}

func newTagAddCommand(g *globalFlags) *cobra.Command {
	var sf storeFlags
	cmd := &cobra.Command{
		Use:   "add NAME",
		Short: "Create a tag and its secret",
		Long: `Create a tag named NAME owned by --user, with a new 32-byte secret,
stored encrypted in the namespace tags-FINGERPRINT, named after the
first 24 hex digits of the user's key fingerprint, so that only the
owner and the users it shares the tag with can read it. The command
prints the secret once, in hex, to program into the tag: anyone who has
it can follow the tag.`,
		Args: func(cmd *cobra.Command, args []string) error { return rangeArgs("tag add", "NAME", 1, 1, args) },
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := api.ValidateUserName(sf.user); err != nil {
				return err
			}
			client, ctx, cancel, err := connect(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer cancel()
			secret, err := addTag(ctx, client, sf.user, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created tag %s of %s\nsecret %s\n", args[0], sf.user, secret)
			fmt.Fprintln(cmd.ErrOrStderr(), "program the secret into the tag and keep no other copy: whoever holds it can follow the tag")
			return nil
		},
	}
	sf.register(cmd)
	return cmd
}

// errTagExists reports a tag name already in use by the owner.
var errTagExists = errors.New("tag exists")

// addTag stores a new tag with a fresh secret, unless owner has a tag of
// that name already.
func addTag(ctx context.Context, client *api.Client, owner, name string) (tag.Secret, error) {
	ns, err := tagNamespace(ctx, client, owner)
	if err != nil {
		return tag.Secret{}, err
	}
	if err := checkRecordName(ns, name); err != nil {
		return tag.Secret{}, err
	}
	_, err = client.GetRecord(ctx, owner, ns, name, io.Discard)
	switch {
	case err == nil:
		return tag.Secret{}, fmt.Errorf("%w: %s already has a tag %q; pick another name", errTagExists, owner, name)
	case !errors.Is(err, api.ErrNotFound):
		return tag.Secret{}, err
	}

	secret := tag.NewSecret()
	value, _ := json.Marshal(api.TagSecret{Secret: secret.String(), Created: time.Now().UTC()})
	_, err = client.PutRecord(ctx, owner, ns, name, bytes.NewReader(value), int64(len(value)), "application/json")
	return secret, err
}

// readTagSecret reads one of owner's tags as owner.
func readTagSecret(ctx context.Context, client *api.Client, owner, name string) (tag.Secret, error) {
	ns, err := tagNamespace(ctx, client, owner)
	if err != nil {
		return tag.Secret{}, err
	}
	var buf bytes.Buffer
	if _, err := client.GetRecord(ctx, owner, ns, name, &buf); err != nil {
		return tag.Secret{}, err
	}
	var rec api.TagSecret
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		return tag.Secret{}, fmt.Errorf("record %s/%s is not a tag secret: %v", ns, name, err)
	}
	return tag.ParseSecret(rec.Secret)
}

func newTagShareCommand(g *globalFlags) *cobra.Command {
	var (
		sf       storeFlags
		keysFile string
	)
	cmd := &cobra.Command{
		Use:   "share NAME USER",
		Short: "Let another user locate a tag",
		Long: `Give USER read access to the secret of tag NAME owned by --user, so that
USER can locate it with 'yui tag where NAME --owner OWNER', where OWNER
is the owner's name on the owner's node, or its fingerprint from 'yui
user show' on any other node. --keys names
the file with USER's public keys from 'yui user show USER'; for a user
of this same node it may be left out. Revoke with 'yui revoke'.`,
		Args: func(cmd *cobra.Command, args []string) error { return rangeArgs("tag share", "NAME USER", 2, 2, args) },
		RunE: func(cmd *cobra.Command, args []string) error {
			name, grantee := args[0], args[1]
			if err := api.ValidateUserName(sf.user); err != nil {
				return err
			}
			client, ctx, cancel, err := connect(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer cancel()
			keys, err := granteeKeys(ctx, client, grantee, keysFile)
			if err != nil {
				return err
			}
			ns, err := tagNamespace(ctx, client, sf.user)
			if err != nil {
				return err
			}
			grant := api.Grant{KeyOrPrefix: name, User: grantee, PublicKeys: keys, Right: api.RightRead}
			if err := client.Grant(ctx, sf.user, ns, grant); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "shared tag %s of %s with %s\n", name, sf.user, grantee)
			return nil
		},
	}
	sf.register(cmd)
	cmd.Flags().StringVar(&keysFile, "keys", "", "file with the user's public keys, from 'yui user show' (default: look the user up on this node)")
	return cmd
}

func newTagWhereCommand(g *globalFlags) *cobra.Command {
	var (
		sf     storeFlags
		owner  string
		q      api.TagQuery
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "where NAME",
		Short: "Locate a tag",
		Long: `Locate tag NAME from the sightings the node holds. The command runs as
--user, who must own the tag or have it shared; anyone else gets a
permission error. It prints the newest estimate with its radius, which
holds the tag with about 68% probability, and the last time a relay
heard it. --area and --silence print alerts when the tag left an area
or was not heard for that long.`,
		Args: func(cmd *cobra.Command, args []string) error { return rangeArgs("tag where", "NAME", 1, 1, args) },
		RunE: func(cmd *cobra.Command, args []string) error {
			if owner == "" {
				owner = sf.user
			}
			if q.Area != "" {
				if _, err := tag.ParseArea(q.Area); err != nil {
					return err
				}
			}
			client, ctx, cancel, err := connectFor(cmd.Context(), g, listTimeout)
			if err != nil {
				return err
			}
			defer cancel()
			loc, err := client.TagLocation(ctx, sf.user, owner, args[0], q)
			if errors.Is(err, api.ErrNotFound) {
				// The server's message names the tag's internal namespace
				// and record hash, which mean nothing to the user, so the
				// error names the tag instead.
				if cmd.Flags().Changed("owner") {
					return fmt.Errorf("tag %q of %s: %w; 'yui tag add %s --user %s' creates it", args[0], owner, api.ErrNotFound, args[0], owner)
				}
				return fmt.Errorf("tag %q of %s: %w; 'yui tag add %s' creates it, and for a tag that another user shared with %s, name that user with --owner",
					args[0], owner, api.ErrNotFound, args[0], sf.user)
			}
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), loc)
			}
			printTagLocation(cmd.OutOrStdout(), loc)
			return nil
		},
	}
	sf.register(cmd)
	f := cmd.Flags()
	f.StringVar(&owner, "owner", "", "user of this node who owns the tag, or for an owner on another node the fingerprint from 'yui user show' there (default --user)")
	f.StringVar(&q.Network, "network", api.DefaultTagNetwork, "relay network whose sightings to search")
	f.DurationVar(&q.Since, "since", time.Hour, "how far back to search, up to 168h")
	f.BoolVar(&q.History, "history", false, "print every position fix, newest first")
	f.StringVar(&q.Area, "area", "", "area the tag should stay in, in metres: circle:X,Y,R or polygon:X,Y;X,Y;X,Y")
	f.DurationVar(&q.Silence, "silence", 0, "alert when the tag was not heard for longer than this, such as 15m")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

func printTagLocation(w io.Writer, loc *api.TagLocation) {
	if loc.Sightings == 0 {
		fmt.Fprintf(w, "tag %s of %s: no sightings since %s; --since searches further back\n", loc.Tag, loc.Owner, loc.Since.Format(time.RFC3339))
	} else {
		fmt.Fprintf(w, "tag %s of %s: %d sightings, last seen %s\n", loc.Tag, loc.Owner, loc.Sightings, loc.LastSeen.Format(time.RFC3339))
	}
	if loc.Latest != nil {
		fmt.Fprintf(w, "at %s\n", formatEstimate(*loc.Latest))
	} else if loc.Sightings > 0 {
		fmt.Fprintln(w, "position unknown: no relay that heard it has sent its position")
	}
	if len(loc.History) > 0 {
		fmt.Fprintln(w, "history, newest first:")
		for _, e := range loc.History {
			fmt.Fprintf(w, "  %s\n", formatEstimate(e))
		}
	}
	for _, a := range loc.Alerts {
		fmt.Fprintf(w, "ALERT %s %s: %s\n", a.Time.Format(time.RFC3339), a.Kind, a.Message)
	}
}

func formatEstimate(e tag.Estimate) string {
	return fmt.Sprintf("%s  x %.1f m, y %.1f m  ± %.1f m  (%d relays)",
		e.Time.UTC().Format(time.RFC3339), e.Position.X, e.Position.Y, e.Radius, e.Relays)
}
