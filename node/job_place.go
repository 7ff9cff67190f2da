package node

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/job/compute"
	"github.com/yuinet/yui/job/sched"
	"github.com/yuinet/yui/network/geo"
	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/sensor"
)

// nodePlace is the node's compute tier and geographic cluster, which the
// node reports to job managers in answer to their pings.
type nodePlace struct {
	// fixed is the cell of the configured position, or "" to derive the
	// cluster from ingested readings. Set at start.
	fixed string

	mu sync.Mutex
	// meter smooths the calibration and the times of the units run here.
	meter *compute.Meter
	// ingested counts the readings this node stored, by cell.
	ingested geo.Tally
}

func newNodePlace(position string) *nodePlace {
	p := &nodePlace{}
	// Config.validate checked the position, and the default Config is
	// valid, so neither step can fail here.
	if lat, lon, err := geo.ParsePosition(position); err == nil {
		p.fixed, _ = geo.Cell(lat, lon)
	}
	p.meter, _ = compute.NewMeter(compute.Config{})
	return p
}

// calibrate times the fixed workload once, so that the node has a tier
// before it runs its first unit.
func (p *nodePlace) calibrate() {
	took := compute.Calibrate(compute.CalibrationReadings)
	p.observe(compute.CalibrationReadings, took)
}

func (p *nodePlace) observe(readings int, took time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.meter.Observe(readings, took)
}

// tier returns the node's compute tier and its speed in readings per
// second.
func (p *nodePlace) tier() (sched.Tier, float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.meter.Tier(), p.meter.Rate()
}

// cluster returns the configured cell, else the cell most readings
// ingested here came from, else "".
func (p *nodePlace) cluster() string {
	if p.fixed != "" {
		return p.fixed
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ingested.Top()
}

func (p *nodePlace) noteIngested(readings []sensor.Reading) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range readings {
		p.ingested.Add(readings[i].Location)
	}
}

// placeSink stores readings with next and then counts their cells, so a
// node without a configured position joins the cluster of its sensors.
type placeSink struct {
	next  sensor.Sink
	place *nodePlace
}

func (s placeSink) Write(ctx context.Context, user, ns string, readings []sensor.Reading) error {
	if err := s.next.Write(ctx, user, ns, readings); err != nil {
		return err
	}
	s.place.noteIngested(readings)
	return nil
}

// countIngested puts the node's cell counter in front of the reading
// sink. It runs once the sink exists and before any ingest path starts.
func (s *jobService) countIngested() {
	if s.n.readings != nil {
		s.n.readings = placeSink{next: s.n.readings, place: s.place}
	}
}

// startPlace sets up the node's place and calibrates in the background.
func (s *jobService) startPlace() {
	s.place = newNodePlace(s.n.cfg.Position)
	s.goJob(func() {
		s.place.calibrate()
		t, rate := s.place.tier()
		s.n.log.Info("measured compute speed", "tier", compute.TierName(t), "readings_per_second", int(rate),
			"cluster", s.place.cluster())
	})
}

// workerAck answers a ping with the job's epoch, this node's compute
// tier and its cluster.
func (s *jobService) workerAck(epoch uint64) *wire.JobAck {
	t, _ := s.place.tier()
	return &wire.JobAck{Epoch: epoch, ComputeTier: uint8(t) + 1, Cluster: s.place.cluster()}
}

// workerInfo reads a worker's tier and cluster from its answer to a
// ping; ok is false when the answer carries no tier.
func workerInfo(id sched.WorkerID, resp wire.Message) (sched.WorkerInfo, bool) {
	ack, isAck := resp.(*wire.JobAck)
	if !isAck || ack.ComputeTier == 0 {
		return sched.WorkerInfo{}, false
	}
	return sched.WorkerInfo{ID: id, Tier: sched.Tier(ack.ComputeTier - 1), Cluster: ack.Cluster}, true
}

// unitStats measures what a worker read for one unit, and holds the
// digest it reports beside the unit's result.
type unitStats struct {
	// bytes estimates the stored size of the segments read.
	bytes uint64
	cells geo.Tally
	// digest is the SumsDigest of the page sums a sealed unit stored,
	// when the job verifies units on several workers.
	digest []byte
}

// read counts one segment's readings.
//
// NOTE: the size is that of the readings re-encoded as a segment, after
// the job's filter, not the stored ciphertext, which the search layer
// does not expose; it is an estimate of the bytes that moved.
func (u *unitStats) read(readings []sensor.Reading) {
	if b, err := sensor.EncodeSegment(readings); err == nil {
		u.bytes += uint64(len(b))
	}
	for i := range readings {
		u.cells.Add(readings[i].Location)
	}
}

// fillPlace adds the node's compute tier and cluster to its status.
func (n *Node) fillPlace(s *api.Status) {
	if n.jobs == nil || n.jobs.place == nil {
		return
	}
	t, rate := n.jobs.place.tier()
	s.ComputeTier, s.ComputeRate, s.Cluster = compute.TierName(t), rate, n.jobs.place.cluster()
}

// answeredLocked handles a worker's answer to a ping: a joining node
// joins the Machine with the tier and cluster it gave, and a worker's
// leases are renewed and its tier and cluster updated. mj.mu must be held.
func (mj *managedJob) answeredLocked(now time.Time, id sched.WorkerID, w *jobWorker, resp wire.Message) {
	info, ok := workerInfo(id, resp)
	if !ok {
		// A node that gives no tier counts as middle tier.
		info = sched.WorkerInfo{ID: id, Tier: sched.TierMiddle}
	}
	if w.joining {
		w.joining = false
		if err := mj.machine.Join(now, info); err != nil {
			mj.s.n.log.Debug("job worker not added", "job", mj.id, "worker", w.contact.ID.Short(), "err", err)
		}
		mj.poke()
		return
	}
	mj.machine.Heartbeat(now, id)
	if err := mj.machine.UpdateWorker(now, info); err != nil {
		mj.s.n.log.Debug("job worker's tier not updated", "job", mj.id, "worker", w.contact.ID.Short(), "err", err)
	}
}

// fillLocality copies the bytes of the committed units by place into a
// status.
func fillLocality(st *wire.JobStatus, l sched.Locality) {
	st.BytesHeld, st.BytesCluster = uint64(l.Held), uint64(l.Cluster)
	st.BytesRemote, st.BytesUnknown = uint64(l.Remote), uint64(l.Unknown)
}

// apiLocality returns a status's byte counts by place, or nil before
// any committed unit reported its bytes.
func apiLocality(st *wire.JobStatus) *api.JobLocality {
	total := float64(st.BytesCluster) + float64(st.BytesRemote) + float64(st.BytesUnknown)
	if total == 0 {
		return nil
	}
	return &api.JobLocality{Cluster: st.BytesCluster, Remote: st.BytesRemote, Unknown: st.BytesUnknown,
		Held: st.BytesHeld, InClusterShare: float64(st.BytesCluster) / total, HeldShare: float64(st.BytesHeld) / total}
}

// sensorUnits maps each sensor of a job to the units that read its
// segments, by the sensor's hash in the segment keys.
type sensorUnits struct {
	units map[string][]sched.UnitID
	// learned holds the sensors whose cluster was already given out.
	learned map[string]bool
}

func newSensorUnits(units []sched.Unit) *sensorUnits {
	x := &sensorUnits{units: make(map[string][]sched.UnitID), learned: make(map[string]bool)}
	for _, u := range units {
		for _, s := range u.Segments {
			if sensor, ok := segmentSensor(s.Key); ok {
				x.units[sensor] = append(x.units[sensor], u.ID)
			}
		}
	}
	return x
}

// segmentSensor returns the sensor part of a segment key,
// "readings/HOUR/SENSOR-CONTENT" in the search layer's layout.
func segmentSensor(key string) (string, bool) {
	name := key[strings.LastIndexByte(key, '/')+1:]
	sensor, _, ok := strings.Cut(name, "-")
	return sensor, ok && sensor != ""
}

// learnClusterLocked spreads the cluster a worker found in a unit's data
// to every unit that reads the same sensors, so that their runs prefer
// workers of that cluster. The submitter sees only segment keys, so a
// sensor's first unit runs anywhere. mj.mu must be held.
func (mj *managedJob) learnClusterLocked(unit sched.UnitID, cluster string) {
	if cluster == "" || mj.machine == nil || mj.snap == nil || int(unit) >= len(mj.snap.Units) {
		return
	}
	if mj.sensors == nil {
		mj.sensors = newSensorUnits(mj.snap.Units)
	}
	for _, s := range mj.snap.Units[unit].Segments {
		sensor, ok := segmentSensor(s.Key)
		if !ok || mj.sensors.learned[sensor] {
			continue
		}
		mj.sensors.learned[sensor] = true
		for _, id := range mj.sensors.units[sensor] {
			if err := mj.machine.SetUnitCluster(id, cluster); err != nil {
				mj.s.n.log.Debug("job unit's cluster not set", "job", mj.id, "unit", id, "err", err)
			}
		}
	}
}
