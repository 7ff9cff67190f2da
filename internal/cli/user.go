package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/storage/seal"
)

// keysBlockType is the PEM block type of a user's public keys, as 'yui
// user show' prints them and 'yui grant --keys' reads them.
const keysBlockType = "YUI USER PUBLIC KEYS"

// maxKeysFile bounds a public keys file; a real one is under 400 bytes.
const maxKeysFile = 16 << 10

func newUserCommand(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Create, list and show the node's local users",
		Long: `A user is a key pair kept in the node's data folder (users/NAME.pem):
it signs what the user writes and opens what others share with it. A
node creates the user "default" on its first start. Share a user's
public keys ('yui user show NAME') with namespace owners so that they
can grant it access.`,
	}
	cmd.AddCommand(newUserCreateCommand(g), newUserListCommand(g), newUserShowCommand(g))
	return cmd
}

func newUserCreateCommand(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "create NAME",
		Short: "Create a local user with new keys",
		Args: func(cmd *cobra.Command, args []string) error {
			return rangeArgs("user create", "NAME", 1, 1, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := api.ValidateUserName(args[0]); err != nil {
				return err
			}
			client, ctx, cancel, err := connect(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer cancel()
			u, err := client.CreateUser(ctx, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created user %s, fingerprint %s\n", u.Name, u.Fingerprint)
			// The hint names the data folder unless it is the default, so
			// that pasting it reaches the same node.
			dirFlag := ""
			if g.dataDir != defaultDataDir() {
				dirFlag = " --data-dir " + g.dataDir
			}
			fmt.Fprintf(cmd.OutOrStdout(), "share its public keys with: yui user show %s%s > %s.keys\n", u.Name, dirFlag, u.Name)
			return nil
		},
	}
}

func newUserListCommand(g *globalFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List the node's local users",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			client, ctx, cancel, err := connect(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer cancel()
			users, err := client.Users(ctx)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), users)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tFINGERPRINT")
			for _, u := range users {
				fmt.Fprintf(tw, "%s\t%s\n", u.Name, u.Fingerprint)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newUserShowCommand(g *globalFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "Print a local user's public keys, to share with namespace owners",
		Long: `Print a local user's public keys as a PEM block. Save it to a file and
hand it to a namespace owner, who passes it to 'yui grant --keys FILE'.
The keys are public: they let others share data with the user, not
read what the user reads.`,
		Args: func(cmd *cobra.Command, args []string) error {
			return rangeArgs("user show", "NAME", 1, 1, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			client, ctx, cancel, err := connect(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer cancel()
			u, err := findLocalUser(ctx, client, args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), u)
			}
			return writeKeysPEM(cmd.OutOrStdout(), u)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// findLocalUser returns the node's local user name.
func findLocalUser(ctx context.Context, client *api.Client, name string) (*api.User, error) {
	users, err := client.Users(ctx)
	if err != nil {
		return nil, err
	}
	for i := range users {
		if users[i].Name == name {
			return &users[i], nil
		}
	}
	return nil, fmt.Errorf("%w: user %q is not on this node; 'yui user ls' lists the local users", api.ErrNotFound, name)
}

func writeKeysPEM(w io.Writer, u *api.User) error {
	return pem.Encode(w, &pem.Block{
		Type:    keysBlockType,
		Headers: map[string]string{"Name": u.Name, "Fingerprint": u.Fingerprint},
		Bytes:   u.PublicKeys,
	})
}

// readKeysFile reads public keys that 'yui user show' wrote and checks
// that they belong to the user named.
func readKeysFile(path, user string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeysFile+1))
	if err != nil {
		return nil, fmt.Errorf("read keys file: %w", err)
	}
	return parseKeysFile(data, path, user)
}

// parseKeysFile decodes the contents of a keys file named path.
func parseKeysFile(data []byte, path, user string) ([]byte, error) {
	if len(data) > maxKeysFile {
		return nil, fmt.Errorf("keys file %s is over %d bytes; want the output of 'yui user show %s'", path, maxKeysFile, user)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != keysBlockType {
		return nil, fmt.Errorf("keys file %s has no %q PEM block; want the output of 'yui user show %s'", path, keysBlockType, user)
	}
	if name := block.Headers["Name"]; name != "" && name != user {
		return nil, fmt.Errorf("keys file %s contains the keys of user %q, not %q; pass the matching file or name", path, name, user)
	}
	if _, err := seal.ParsePublicKeys(block.Bytes); err != nil {
		return nil, fmt.Errorf("keys file %s: %w", path, err)
	}
	return block.Bytes, nil
}

func newGrantCommand(g *globalFlags) *cobra.Command {
	return newAccessCommand(g, "grant", "Give a user the right to read or write a key or prefix")
}

func newRevokeCommand(g *globalFlags) *cobra.Command {
	return newAccessCommand(g, "revoke", "Take a right away again, for versions written afterwards")
}

// newAccessCommand builds 'yui grant' and 'yui revoke', which differ
// only in the request they send.
func newAccessCommand(g *globalFlags, verb, short string) *cobra.Command {
	var (
		sf       storeFlags
		keysFile string
	)
	cmd := &cobra.Command{
		Use:   verb + " NAMESPACE KEY|PREFIX USER read|write",
		Short: short,
		Long: short + `. The command runs as the namespace's owner (--user).
KEY|PREFIX names one key, or every key under a prefix; "" is the whole
namespace. USER is the grantee: --keys names the file with its public
keys from 'yui user show USER'. For a user of this same node --keys may
be left out. A revoke affects versions written after it; readers keep
the keys of versions they could already read.

A read grant also wraps the key of every record that exists already for
the new reader. The node does that in the background and the command
shows its progress, waiting as long as it advances. Ctrl-C stops only
the waiting: the node finishes the work. Running the same grant again
follows a grant that is still running, or re-wraps only the records the
reader cannot read yet.`,
		Args: func(cmd *cobra.Command, args []string) error {
			return rangeArgs(verb, "NAMESPACE KEY|PREFIX USER read|write", 4, 4, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			namespace, keyOrPrefix, grantee, right := args[0], args[1], args[2], api.Right(args[3])
			if err := seal.ValidateNamespace(namespace); err != nil {
				return err
			}
			if right != api.RightRead && right != api.RightWrite {
				return fmt.Errorf("invalid right %q: want read or write", right)
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
			grant := api.Grant{KeyOrPrefix: keyOrPrefix, User: grantee, PublicKeys: keys, Right: right}
			if verb == "revoke" {
				err = client.Revoke(ctx, sf.user, namespace, grant)
			} else {
				err = runGrant(ctx, cmd, client, sf.user, namespace, grant)
			}
			if err != nil {
				return err
			}
			sum := sha256.Sum256(keys)
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s %s on %s/%s (keys %s…)\n",
				pastTense(verb), grantee, right, namespace, keyOrPrefix, hex.EncodeToString(sum[:8]))
			return nil
		},
	}
	sf.register(cmd)
	cmd.Flags().StringVar(&keysFile, "keys", "", "file with the grantee's public keys, from 'yui user show' (default: look the user up on this node)")
	return cmd
}

// granteeKeys reads the grantee's public keys from keysFile, or from the
// node's local users when no file is given.
func granteeKeys(ctx context.Context, client *api.Client, grantee, keysFile string) ([]byte, error) {
	if keysFile != "" {
		return readKeysFile(keysFile, grantee)
	}
	u, err := findLocalUser(ctx, client, grantee)
	if err != nil {
		return nil, fmt.Errorf("%w; for a user of another node pass --keys FILE from 'yui user show %s' there", err, grantee)
	}
	return u.PublicKeys, nil
}

func pastTense(verb string) string {
	if verb == "revoke" {
		return "revoked"
	}
	return "granted"
}
