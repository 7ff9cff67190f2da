package node

import (
	"context"
	"time"

	"github.com/yuinet/yui/job"
	"github.com/yuinet/yui/network/transport"
	"github.com/yuinet/yui/network/wire"
)

// reportAttempts is how often a worker tries to deliver a unit's result
// before it gives up; the manager's lease then gives the unit to another.
const reportAttempts = 3

// handleAssign accepts a unit unless a newer manager of the job has been
// heard from, and runs it in the background.
func (s *jobService) handleAssign(from transport.Peer, m *wire.JobAssign) wire.Message {
	spec, err := job.DecodeSpec(m.Spec)
	if err != nil || spec.ID != m.JobID {
		return &wire.Error{Code: wire.CodeBadRequest, Message: "job spec does not decode or names another job"}
	}
	s.mu.Lock()
	f := s.fences[m.JobID]
	if f == nil {
		f = &workerFence{}
		s.fences[m.JobID] = f
	}
	f.used = time.Now()
	err = f.Admit(m.Epoch)
	s.mu.Unlock()
	if err != nil {
		return &wire.Error{Code: wire.CodeBadRequest, Message: err.Error()}
	}
	manager := from.Contact()
	s.n.log.Debug("job unit assigned", "job", m.JobID, "unit", m.Unit, "epoch", m.Epoch, "manager", manager.ID.Short())
	s.goJob(func() { s.work(manager, spec, m) })
	return &wire.JobAck{Epoch: m.Epoch}
}

// work runs one unit and reports its result to the manager that
// assigned it.
func (s *jobService) work(manager wire.Contact, spec *job.Spec, m *wire.JobAssign) {
	ctx, cancel := context.WithTimeout(s.ctx, jobUnitTimeout)
	defer cancel()
	report := &wire.JobReport{JobID: m.JobID, Epoch: m.Epoch, Lease: m.Lease, Unit: m.Unit}
	var stats unitStats
	result, err := s.runUnit(ctx, spec, m, &stats)
	report.Bytes, report.DataCluster = stats.bytes, stats.cells.Top()
	if err != nil {
		report.Err = truncate(err.Error(), wire.MaxJobText)
		s.n.log.Warn("job unit failed", "job", m.JobID, "unit", m.Unit, "err", err)
	} else {
		s.n.log.Debug("ran job unit", "job", m.JobID, "unit", m.Unit, "epoch", m.Epoch, "segments", len(m.Segments))
	}
	report.Result, report.Digest = result, stats.digest

	for i := range reportAttempts {
		rctx, rcancel := context.WithTimeout(ctx, jobSendTimeout)
		_, err := s.request(rctx, manager, report)
		rcancel()
		if err == nil {
			return
		}
		s.n.log.Debug("job report not delivered", "job", m.JobID, "unit", m.Unit, "attempt", i+1, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
