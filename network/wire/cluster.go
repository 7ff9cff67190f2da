package wire

import (
	"fmt"
	"unicode/utf8"
)

// Message types of the cluster membership directory. A holder with a
// geographic position registers itself under its cell's directory ID on
// the cell's directory holders, and gateways and repair read the list to
// place chunks of namespaces placed by cluster on the cell's own holders.
// Codes are part of the protocol: never reuse or renumber one.
const (
	TypeJoinCluster    Type = 37
	TypeGetCluster     Type = 38
	TypeClusterMembers Type = 39
)

// Limits of the cluster messages.
const (
	// MaxCellName is the longest cell name in bytes; "-90.0,-180.0" has
	// 12.
	MaxCellName = 16
	// MaxClusterMembers is the most holders one cell's directory keeps
	// and one ClusterMembers carries.
	MaxClusterMembers = 1024
)

func init() {
	for t, name := range map[Type]string{
		TypeJoinCluster:    "join-cluster",
		TypeGetCluster:     "get-cluster",
		TypeClusterMembers: "cluster-members",
	} {
		typeNames[t] = name
	}
}

// JoinCluster registers the sending node as a holder of cell Cell with a
// directory holder of that cell, until TTLSeconds have passed. The
// receiver records the sender's authenticated ID and address, so a node
// can register only itself.
type JoinCluster struct {
	Cell       string `cbor:"1,keyasint"`
	TTLSeconds uint32 `cbor:"2,keyasint"`
}

// GetCluster requests the registered holders of a cell from one of the
// cell's directory holders.
type GetCluster struct {
	Cell string `cbor:"1,keyasint"`
}

// ClusterMembers is the response to a GetCluster: the holders registered
// and not expired, in no particular order.
type ClusterMembers struct {
	Members []Contact `cbor:"1,keyasint,omitempty"`
}

func (*JoinCluster) Type() Type    { return TypeJoinCluster }
func (*GetCluster) Type() Type     { return TypeGetCluster }
func (*ClusterMembers) Type() Type { return TypeClusterMembers }

func (m *JoinCluster) Validate() error {
	if m.TTLSeconds == 0 {
		return fmt.Errorf("cluster registration has no lifetime")
	}
	return validateCell(m.Cell, true)
}

func (m *GetCluster) Validate() error { return validateCell(m.Cell, true) }

func (m *ClusterMembers) Validate() error {
	return validateContacts("members", m.Members, MaxClusterMembers)
}

// validateCell checks only the size and encoding of a cell name; the
// storage layer checks that it names a cell of the grid.
func validateCell(cell string, required bool) error {
	if cell == "" && !required {
		return nil
	}
	if cell == "" || len(cell) > MaxCellName || !utf8.ValidString(cell) {
		return fmt.Errorf("invalid cell name %q: want 1 to %d bytes of UTF-8", cell, MaxCellName)
	}
	return nil
}

func newClusterMessage(t Type) Message {
	switch t {
	case TypeJoinCluster:
		return new(JoinCluster)
	case TypeGetCluster:
		return new(GetCluster)
	case TypeClusterMembers:
		return new(ClusterMembers)
	}
	return nil
}
