package town

import "math"

// crowd is the people of a run, who walk by the random waypoint model:
// each walks at a constant speed to a random point of the town, then
// picks the next.
type crowd struct {
	first   int // node index of the first person
	at      []Node
	target  []Node
	steps   uint64
	reach   float64
	relayAt *grid
	// links[k] lists the links on which node k, relay or person, is heard
	// by people, or by relays when k is a person. Relay-to-relay links
	// stay in the graph.
	links [][]Link
}

// linked returns every node that has a link with a person now: the
// people and the relays in their range.
func (c *crowd) linked() []int {
	var nodes []int
	for k, links := range c.links {
		if len(links) > 0 || k >= c.first {
			nodes = append(nodes, k)
		}
	}
	return nodes
}

// startPeople places the people at random points and links them.
func (w *world) startPeople() {
	if w.opts.People == 0 {
		return
	}
	reach := w.g.radio.maxReach()
	c := &crowd{
		first: w.relays, at: make([]Node, w.opts.People), target: make([]Node, w.opts.People),
		reach: reach, relayAt: newGrid(w.g.Nodes, reach), links: make([][]Link, len(w.nodes)),
	}
	for i := range c.at {
		c.at[i] = w.randomPoint()
		c.target[i] = w.randomPoint()
	}
	w.people = c
	c.relink(w)
	w.q.schedule(event{at: w.opts.MoveStep, kind: evMove})
}

func (w *world) randomPoint() Node {
	return Node{X: w.scenario.Float64() * w.g.Side, Y: w.scenario.Float64() * w.g.Side}
}

// step moves every person by one move step and relinks them.
func (c *crowd) step(w *world) {
	stride := w.opts.Speed * w.opts.MoveStep.Seconds()
	for i := range c.at {
		dx, dy := c.target[i].X-c.at[i].X, c.target[i].Y-c.at[i].Y
		d := math.Hypot(dx, dy)
		if d <= stride {
			c.at[i] = c.target[i]
			c.target[i] = w.randomPoint()
			continue
		}
		c.at[i].X += dx / d * stride
		c.at[i].Y += dy / d * stride
	}
	c.steps++
	c.relink(w)
}

// relink recomputes every link that has a person at one end. Shadowing
// is drawn afresh at each step, since a person who moves changes the
// walls and trees between them and a relay.
func (c *crowd) relink(w *world) {
	for k := range c.links {
		c.links[k] = c.links[k][:0]
	}
	r := w.g.radio
	salt := c.steps + 1
	peopleAt := newGrid(c.at, c.reach)
	for i, p := range c.at {
		a := c.first + i
		c.relayAt.near(p.X, p.Y, func(b int) {
			c.addPair(r, a, b, math.Hypot(p.X-w.g.Nodes[b].X, p.Y-w.g.Nodes[b].Y), salt)
		})
		peopleAt.near(p.X, p.Y, func(j int) {
			if j > i {
				c.addPair(r, a, c.first+j, math.Hypot(p.X-c.at[j].X, p.Y-c.at[j].Y), salt)
			}
		})
	}
}

func (c *crowd) addPair(r *radio, a, b int, d float64, salt uint64) {
	if d > c.reach {
		return
	}
	if ab, ba, ok := r.pair(a, b, d, salt); ok {
		c.links[a] = append(c.links[a], ab)
		c.links[b] = append(c.links[b], ba)
	}
}
