package sched

import "fmt"

// Place is the location of a run's worker relative to its data's
// cluster.
type Place uint8

const (
	// PlaceUnknown is a run whose worker or data has no known cluster.
	PlaceUnknown Place = iota
	// PlaceCluster is a run on a worker in the data's cluster.
	PlaceCluster
	// PlaceRemote is a run on a worker outside the data's cluster.
	PlaceRemote
)

// placeOf classifies a run of u on a worker of the given cluster.
// dataCluster, when set, overrides the unit's own Cluster because it is
// what the worker found in the data it read.
func placeOf(u *Unit, cluster, dataCluster string) Place {
	if dataCluster == "" {
		dataCluster = u.Cluster
	}
	switch {
	case cluster == "" || dataCluster == "":
		return PlaceUnknown
	case cluster == dataCluster:
		return PlaceCluster
	}
	return PlaceRemote
}

// Locality counts the input bytes of committed runs by where they were
// read. With Verify above 1 every agreeing run counts, since each read
// the input. Runs that did not commit, such as lost copies, are left
// out.
type Locality struct {
	_ struct{} `cbor:",toarray"`
	// Cluster, Remote and Unknown are bytes by Place; they add up to
	// the total.
	Cluster, Remote, Unknown int64
	// Held counts the bytes, of any Place, read by a worker that holds
	// them, so that they did not cross the network at all.
	Held int64
}

func (l *Locality) add(p Place, held bool, n int64) {
	switch p {
	case PlaceCluster:
		l.Cluster += n
	case PlaceRemote:
		l.Remote += n
	default:
		l.Unknown += n
	}
	if held {
		l.Held += n
	}
}

// Total returns the bytes counted.
func (l Locality) Total() int64 { return l.Cluster + l.Remote + l.Unknown }

// Share returns the share of the bytes that stayed inside their cluster,
// Cluster over Total, or 0 when nothing was counted. Bytes of unknown
// place count as outside.
func (l Locality) Share() float64 {
	if l.Total() == 0 {
		return 0
	}
	return float64(l.Cluster) / float64(l.Total())
}

// Locality returns the bytes of the committed runs by where they were
// read, including those of the snapshot this Machine was restored from.
func (m *Machine) Locality() Locality { return m.locality }

// SetUnitCluster sets the cluster of a unit whose data's place was not
// known when the job began, such as one a worker of another unit of the
// same sensor has since reported. A unit that has a cluster keeps it.
// Later runs of the unit prefer workers of that cluster.
func (m *Machine) SetUnitCluster(id UnitID, cluster string) error {
	if m.deposed {
		return ErrDeposed
	}
	if id < 0 || int(id) >= len(m.units) || len(cluster) > maxNameLen {
		return fmt.Errorf("%w: cluster %q for unit %d of %d", ErrInvalid, cluster, id, len(m.units))
	}
	u := &m.units[id]
	if cluster == "" || u.unit.Cluster != "" {
		return nil
	}
	u.unit.Cluster = cluster
	m.index.addCluster(id, cluster, m.small(&u.unit))
	if !u.released {
		// Idle workers of the cluster may take it at the next event.
		m.fresh = append(m.fresh, id)
	}
	return nil
}
