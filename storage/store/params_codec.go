package store

import (
	"fmt"

	"github.com/yuinet/yui/storage/chunk"
)

// Placement is the choice of holders a namespace's chunks are stored on.
type Placement uint8

// Placements.
const (
	// PlaceGlobal stores each chunk on the holders closest to its ID in
	// the whole network.
	PlaceGlobal Placement = iota
	// PlaceCluster stores each chunk on the holders of the geographic
	// cluster it is written in, closest to its ID among them.
	PlaceCluster
)

// String returns "global" or "cluster", the names ParsePlacement accepts.
func (p Placement) String() string {
	switch p {
	case PlaceGlobal:
		return "global"
	case PlaceCluster:
		return "cluster"
	}
	return "unknown"
}

// ParsePlacement returns the placement named s.
func ParsePlacement(s string) (Placement, error) {
	for _, p := range []Placement{PlaceGlobal, PlaceCluster} {
		if s == p.String() {
			return p, nil
		}
	}
	return 0, fmt.Errorf("%w: placement %q is unknown; use global or cluster", ErrInvalid, s)
}

// paramsV1 is the encoding of NamespaceParams with global placement, the
// only one before placement by cluster existed. Descriptors written then
// decode unchanged, and ones with global placement still encode so.
type paramsV1 struct {
	_            struct{} `cbor:",toarray"`
	Chunking     chunk.Params
	Data, Parity uint16
	Replicas     uint16
	DirBits      uint8
}

// paramsV2 adds the placement.
type paramsV2 struct {
	_            struct{} `cbor:",toarray"`
	Chunking     chunk.Params
	Data, Parity uint16
	Replicas     uint16
	DirBits      uint8
	Placement    Placement
}

// MarshalCBOR encodes p as paramsV1 when its placement is global, and as
// paramsV2 otherwise.
func (p NamespaceParams) MarshalCBOR() ([]byte, error) {
	if p.Placement == PlaceGlobal {
		return encMode.Marshal(paramsV1{Chunking: p.Chunking, Data: p.Data, Parity: p.Parity, Replicas: p.Replicas, DirBits: p.DirBits})
	}
	return encMode.Marshal(paramsV2{Chunking: p.Chunking, Data: p.Data, Parity: p.Parity, Replicas: p.Replicas,
		DirBits: p.DirBits, Placement: p.Placement})
}

// UnmarshalCBOR decodes either encoding. A paramsV2 that names global
// placement is rejected, since MarshalCBOR never writes one and two
// encodings of one descriptor would let its signed bytes differ.
func (p *NamespaceParams) UnmarshalCBOR(b []byte) error {
	var v1 paramsV1
	if err := decMode.Unmarshal(b, &v1); err == nil {
		*p = NamespaceParams{Chunking: v1.Chunking, Data: v1.Data, Parity: v1.Parity, Replicas: v1.Replicas, DirBits: v1.DirBits}
		return nil
	}
	var v2 paramsV2
	if err := decMode.Unmarshal(b, &v2); err != nil {
		return err
	}
	if v2.Placement == PlaceGlobal {
		return fmt.Errorf("%w: namespace parameters name global placement in the encoding for cluster placement", ErrInvalid)
	}
	*p = NamespaceParams{Chunking: v2.Chunking, Data: v2.Data, Parity: v2.Parity, Replicas: v2.Replicas,
		DirBits: v2.DirBits, Placement: v2.Placement}
	return nil
}
