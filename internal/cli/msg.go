package cli

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/yuinet/yui/api"
)

func newMsgCommand(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "msg",
		Short: "Send messages to users and read the messages received",
		Long: `Messages go from one user to another, encrypted to the recipient's keys
and signed by the sender. A message reaches the recipient's node at once
when it is reachable; otherwise the nodes closest to the recipient hold
it until that node returns, and the recipient's signed receipt comes
back the same way.`,
	}
	cmd.AddCommand(newMsgSendCommand(g), newMsgInboxCommand(g), newMsgSentCommand(g))
	return cmd
}

func newMsgSendCommand(g *globalFlags) *cobra.Command {
	var (
		sf       storeFlags
		keysFile string
		ttl      time.Duration
		asJSON   bool
	)
	cmd := &cobra.Command{
		Use:   "send USER TEXT",
		Short: "Send a text message to a user",
		Long: `Send TEXT from the local user --user to USER. USER is a user of this
node, or a file with the recipient's public keys from 'yui user show NAME'
on the recipient's node (--keys FILE names one too). The command waits a
few seconds and prints whether the message was delivered, is held for a
recipient whose node is away, or was rejected. It fails when every node
that could hold the message rejected it, such as for its quota.`,
		Args: func(cmd *cobra.Command, args []string) error {
			return rangeArgs("msg send", "USER TEXT", 2, 2, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			recipient, text := args[0], args[1]
			client, ctx, cancel, err := connect(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer cancel()
			keys, name, err := recipientKeys(ctx, client, recipient, keysFile)
			if err != nil {
				return err
			}
			// A keys file may name its user in any way; a name the node
			// would reject is left out rather than failing the send.
			toName := name
			if api.ValidateToName(toName) != nil {
				toName = ""
			}
			m, err := client.SendMessage(ctx, api.SendMessageRequest{
				User: sf.user, To: keys, Text: text, TTLSeconds: int64(ttl / time.Second), ToName: toName,
			})
			if err != nil {
				return err
			}
			if asJSON {
				if err := printJSON(cmd.OutOrStdout(), m); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "message %s to %s: %s\n", m.ID, name, describeSent(m))
			}
			if m.State == "rejected" {
				return fmt.Errorf("message %s to %s was rejected: %s", m.ID, name, m.Error)
			}
			return nil
		},
	}
	sf.register(cmd)
	cmd.Flags().StringVar(&keysFile, "keys", "", "file with the recipient's public keys, from 'yui user show' (default: USER names a local user or such a file)")
	cmd.Flags().DurationVar(&ttl, "ttl", 0, "how long the message may wait for its recipient, such as 24h; 0 for 7 days, at most 720h")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// recipientKeys returns the public keys of the recipient and a name to
// show for it: from keysFile when given, else a local user named
// recipient, else a keys file at the path recipient.
func recipientKeys(ctx context.Context, client *api.Client, recipient, keysFile string) ([]byte, string, error) {
	if keysFile != "" {
		keys, err := readKeysFile(keysFile, recipient)
		return keys, recipient, err
	}
	u, err := findLocalUser(ctx, client, recipient)
	if err == nil {
		return u.PublicKeys, recipient, nil
	}
	if !errors.Is(err, api.ErrNotFound) {
		return nil, "", err
	}
	data, err := readFileLimited(recipient, maxKeysFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil, "", fmt.Errorf("user %q is not on this node and no file %s exists; "+
			"pass the file that 'yui user show NAME' wrote on the recipient's node", recipient, recipient)
	}
	if err != nil {
		return nil, "", err
	}
	name := recipient
	if block, _ := pem.Decode(data); block != nil && block.Headers["Name"] != "" {
		name = block.Headers["Name"]
	}
	keys, err := parseKeysFile(data, recipient, name)
	return keys, name, err
}

func readFileLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit+1))
}

func describeSent(m *api.SentMessage) string {
	switch {
	case m.Receipt != nil:
		return "delivered, receipt signed at " + m.Receipt.Delivered.Local().Format(time.DateTime)
	case m.State == "held":
		return fmt.Sprintf("held by %d nodes, which deliver it as soon as they reach the recipient's node; 'yui msg sent' shows the receipt", m.Custodians)
	case m.State == "rejected":
		return "rejected: " + m.Error
	case m.State == "pending":
		return "pending; 'yui msg sent' shows when it is delivered"
	}
	return m.State
}

func newMsgInboxCommand(g *globalFlags) *cobra.Command {
	var (
		user   string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "inbox",
		Short: "List the messages local users received",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			client, ctx, cancel, err := connect(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer cancel()
			list, err := client.Inbox(ctx, user)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), list)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tUSER\tFROM\tSENT\tTEXT")
			for _, m := range list {
				from := m.From
				if m.FromUser != "" {
					from = m.FromUser
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.ID[:8], m.User, from,
					m.Created.Local().Format(time.DateTime), oneLine(m.Text))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&user, "user", "", "list only this local user's messages (default: every local user)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newMsgSentCommand(g *globalFlags) *cobra.Command {
	var (
		user   string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "sent",
		Short: "List the messages local users sent, with their state and receipts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			client, ctx, cancel, err := connect(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer cancel()
			list, err := client.SentMessages(ctx, user)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), list)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tFROM\tTO\tSTATE\tRECEIPT\tTEXT")
			for _, m := range list {
				to, receipt := m.To, "-"
				switch {
				case m.ToUser != "":
					to = m.ToUser
				case m.ToName != "":
					to = m.ToName
				}
				if m.Receipt != nil {
					receipt = m.Receipt.Delivered.Local().Format(time.DateTime)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", m.ID[:8], m.From, to, m.State, receipt, oneLine(m.Text))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&user, "user", "", "list only this local user's messages (default: every local user)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// oneLine shortens a message text to one table cell.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 60 {
		return string(r[:59]) + "…"
	}
	return s
}
