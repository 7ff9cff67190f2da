package sched

// Place is the location of a run's input relative to its worker.
type Place uint8

const (
	// PlaceUnknown is a run whose worker or data has no known cluster.
	PlaceUnknown Place = iota
	// PlaceHeld is a run on a worker that holds one of the unit's
	// segments, so at least part of the input never crossed the network.
	PlaceHeld
	// PlaceCluster is a run on a worker in the data's cluster.
	PlaceCluster
	// PlaceRemote is a run on a worker outside the data's cluster.
	PlaceRemote
)

// placeOf classifies a run of u on worker w of the given cluster.
// dataCluster, when set, overrides the unit's own Cluster: it is what the
// worker found in the data it read.
func placeOf(u *Unit, w WorkerID, cluster, dataCluster string) Place {
	if dataCluster == "" {
		dataCluster = u.Cluster
	}
	switch {
	case u.heldBy(w):
		return PlaceHeld
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
	// Held, Cluster, Remote and Unknown are bytes by Place.
	Held, Cluster, Remote, Unknown int64
}

func (l *Locality) add(p Place, n int64) {
	switch p {
	case PlaceHeld:
		l.Held += n
	case PlaceCluster:
		l.Cluster += n
	case PlaceRemote:
		l.Remote += n
	default:
		l.Unknown += n
	}
}

// Total returns the bytes counted.
func (l Locality) Total() int64 { return l.Held + l.Cluster + l.Remote + l.Unknown }

// InCluster returns the bytes that stayed inside their cluster: those
// read on a holder or on a worker of the data's cluster.
//
// NOTE: a holder counts as inside even when storage placed it outside
// the data's cluster, because those bytes did not cross the network.
func (l Locality) InCluster() int64 { return l.Held + l.Cluster }

// Share returns InCluster as a fraction of Total, or 0 when nothing was
// counted.
func (l Locality) Share() float64 {
	if l.Total() == 0 {
		return 0
	}
	return float64(l.InCluster()) / float64(l.Total())
}

// Locality returns the bytes of the committed runs by where they were
// read, including those of the snapshot this Machine was restored from.
func (m *Machine) Locality() Locality { return m.locality }
