package cli

import (
	"encoding/json"
	"fmt"
	"slices"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/yuinet/yui/alert"
)

func newAuthorityCommand(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "authority",
		Short: "Manage the authorities whose alerts the node trusts",
		Long: `An authority is an Ed25519 key that signs disaster alerts. A node accepts
and forwards only alerts signed by the authorities in its data folder's
"authorities" file. Create a key pair where alerts are issued with
'yui authority create NAME', then trust its public key on every node
with 'yui authority add NAME PUBKEY'. A running node rereads the file
within a second. These commands need no running node.`,
	}
	cmd.AddCommand(newAuthorityCreateCommand(g), newAuthorityAddCommand(g), newAuthorityListCommand(g))
	return cmd
}

func newAuthorityCreateCommand(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "create NAME",
		Short: "Create an authority key pair in the data folder and trust it",
		Args: func(cmd *cobra.Command, args []string) error {
			return rangeArgs("authority create", "NAME", 1, 1, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			signer, err := alert.CreateSigner(g.dataDir, args[0])
			if err != nil {
				return err
			}
			auth := signer.Authority()
			if err := alert.AddAuthority(g.dataDir, auth); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "created authority %s, key ID %s\n", auth.Name, auth.KeyID())
			fmt.Fprintf(out, "public key: %s\n", alert.FormatPublicKey(auth.Key))
			fmt.Fprintf(out, "trust it on other nodes with: yui authority add %s %s\n", auth.Name, alert.FormatPublicKey(auth.Key))
			return nil
		},
	}
}

func newAuthorityAddCommand(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "add NAME PUBKEY",
		Short: "Trust the alerts signed by an authority's public key",
		Args: func(cmd *cobra.Command, args []string) error {
			return rangeArgs("authority add", "NAME PUBKEY", 2, 2, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := alert.ParsePublicKey(args[1])
			if err != nil {
				return err
			}
			auth, err := alert.NewAuthority(args[0], key)
			if err != nil {
				return err
			}
			if err := alert.AddAuthority(g.dataDir, auth); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "trusting authority %s, key ID %s\n", auth.Name, auth.KeyID())
			return nil
		},
	}
}

// authorityEntry is one line of 'yui authority ls --json'.
type authorityEntry struct {
	Name      string `json:"name"`
	KeyID     string `json:"key_id"`
	PublicKey string `json:"public_key"`
	// CanSign is set when the data folder holds the private key.
	CanSign bool `json:"can_sign"`
}

func newAuthorityListCommand(g *globalFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List the trusted authorities and which of them this folder can sign for",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			list, err := alert.ReadAuthorities(g.dataDir)
			if err != nil {
				return err
			}
			signers, err := alert.Signers(g.dataDir)
			if err != nil {
				return err
			}
			entries := []authorityEntry{}
			for _, a := range list {
				canSign := false
				if slices.Contains(signers, a.Name) {
					s, err := alert.LoadSigner(g.dataDir, a.Name)
					canSign = err == nil && s.Authority().Key.Equal(a.Key)
				}
				entries = append(entries, authorityEntry{
					Name: a.Name, KeyID: a.KeyID().String(), PublicKey: alert.FormatPublicKey(a.Key), CanSign: canSign,
				})
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(entries)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tKEY ID\tSIGN\tPUBLIC KEY")
			for _, e := range entries {
				sign := "-"
				if e.CanSign {
					sign = "yes"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Name, e.KeyID, sign, e.PublicKey)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
