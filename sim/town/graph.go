package town

import "math"

// Link is one direction of a radio link: Receiver hears the node whose
// adjacency list holds the link.
type Link struct {
	Receiver int32
	// RSSI is the received signal strength in dBm.
	RSSI float64
	// LQI is the link quality indicator in the units of the ULB data set,
	// after the transformation its ReadMe.txt gives.
	LQI float64
	// Delivery is the probability that one transmission reaches the
	// receiver, in (0, 1].
	Delivery float64
}

// Node is a relay of the mesh.
type Node struct {
	// Name is the node's label: the mote id for the ULB graph, an index
	// for a generated town.
	Name string
	// X and Y are the position in metres. The ULB graph has no positions
	// and leaves them at 0.
	X, Y float64
}

// Graph is the radio mesh of a town's relays: Links[u] lists the links on
// which the relays hear node u's transmissions.
type Graph struct {
	Nodes []Node
	Links [][]Link
	// Positioned reports whether the node positions are real, which
	// people moving between relays need.
	Positioned bool
	// Side is the side in metres of the square that holds the relays,
	// 0 without positions.
	Side float64
	// radio is the link model of a generated town, which links the
	// people who move in it; nil for a measured graph.
	radio *radio
}

// Len returns the number of relays.
func (g *Graph) Len() int { return len(g.Nodes) }

// Degrees returns the in-degree of every relay: how many relays it hears.
func (g *Graph) Degrees() []int {
	deg := make([]int, g.Len())
	for _, links := range g.Links {
		for _, l := range links {
			deg[l.Receiver]++
		}
	}
	return deg
}

// LinkStats summarises the links of a graph.
type LinkStats struct {
	Relays     int
	Links      int     // directed links
	MeanDegree float64 // links per relay
	SDDegree   float64
	MeanRSSI   float64 // dBm
	SDRSSI     float64
	MeanLQI    float64
	SDLQI      float64
	// MeanDelivery is the mean delivery probability over links.
	MeanDelivery float64
	SDDelivery   float64
}

// Stats measures the link statistics of g.
func (g *Graph) Stats() LinkStats {
	s := LinkStats{Relays: g.Len()}
	var rssi, lqi, delivery moments
	for _, links := range g.Links {
		for _, l := range links {
			rssi.add(l.RSSI)
			lqi.add(l.LQI)
			delivery.add(l.Delivery)
		}
	}
	var degree moments
	for _, d := range g.Degrees() {
		degree.add(float64(d))
	}
	s.Links = rssi.n
	s.MeanDegree, s.SDDegree = degree.mean(), degree.sd()
	s.MeanRSSI, s.SDRSSI = rssi.mean(), rssi.sd()
	s.MeanLQI, s.SDLQI = lqi.mean(), lqi.sd()
	s.MeanDelivery, s.SDDelivery = delivery.mean(), delivery.sd()
	return s
}

// moments accumulates a mean and a standard deviation.
type moments struct {
	n          int
	sum, sumSq float64
}

func (m *moments) add(v float64) {
	m.n++
	m.sum += v
	m.sumSq += v * v
}

func (m *moments) mean() float64 {
	if m.n == 0 {
		return 0
	}
	return m.sum / float64(m.n)
}

// sd returns the population standard deviation.
func (m *moments) sd() float64 {
	if m.n == 0 {
		return 0
	}
	mu := m.mean()
	return math.Sqrt(max(m.sumSq/float64(m.n)-mu*mu, 0))
}
