package cli

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/storage/seal"
)

// newNamespaceCommand builds 'yui namespace', which creates a namespace
// or changes its settings.
func newNamespaceCommand(g *globalFlags) *cobra.Command {
	var (
		sf        storeFlags
		placement string
	)
	cmd := &cobra.Command{
		Use:   "namespace NAMESPACE --placement global|cluster",
		Short: "Create a namespace or change where its data is stored",
		Long: `Create a namespace, with the user (--user) as its owner, or change its
settings as its owner.

--placement cluster stores the namespace's values on the storage nodes
of the geographic cluster they are written in: the 0.5° cell of the
writing node's --position, when at least 8 storage nodes there have
registered. Elsewhere, and with --placement global (the default of a
new namespace), values go to the closest storage nodes of the whole
network. Records and their directory stay global either way, so every
node finds them. A change applies to values written afterwards.`,
		Args: func(cmd *cobra.Command, args []string) error {
			return rangeArgs("namespace", "NAMESPACE --placement global|cluster", 1, 1, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			namespace := args[0]
			if err := seal.ValidateNamespace(namespace); err != nil {
				return err
			}
			if placement != api.PlacementGlobal && placement != api.PlacementCluster {
				return fmt.Errorf("invalid placement %q: want --placement global or --placement cluster", placement)
			}
			client, ctx, cancel, err := connect(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer cancel()
			if err := client.SetPlacement(ctx, sf.user, namespace, placement); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "namespace %s: placement %s\n", namespace, placement)
			return nil
		},
	}
	sf.register(cmd)
	cmd.Flags().StringVar(&placement, "placement", "", "where values are stored: global or cluster")
	return cmd
}
