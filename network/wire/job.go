package wire

import "fmt"

// Message types of distributed jobs. A submitter sends the job's manager
// and backup the parts of its unit list (JobUnits), then a JobState that
// starts them. The manager sends JobAssign to workers, which respond
// later with JobReport, and replicates every commit to the backup with
// JobState. JobPing checks that a worker or a manager is alive, and
// JobStatusRequest asks for progress and the result. A worker of a sealed job whose page sums are stored as records
// sends each one to the submitter with JobSum. Codes are part of the
// protocol: never reuse or renumber one.
const (
	TypeJobState         Type = 110
	TypeJobAssign        Type = 111
	TypeJobReport        Type = 112
	TypeJobPing          Type = 113
	TypeJobStatusRequest Type = 114
	TypeJobStatus        Type = 115
	TypeJobAck           Type = 116
	TypeJobSum           Type = 117
	TypeJobUnits         Type = 118
)

// Limits of the job messages, far above what an honest peer sends.
const (
	// MaxJobID is the longest job ID in bytes.
	MaxJobID = 64
	// MaxJobSpec is the largest encoded job spec.
	MaxJobSpec = 64 << 10
	// MaxJobResult is the largest encoded partial aggregate.
	MaxJobResult = 1 << 20
	// MaxJobSegments is the most segment keys one assignment names.
	MaxJobSegments = 1024
	// MaxJobSegmentKey is the longest segment key in bytes.
	MaxJobSegmentKey = 1024
	// MaxJobText is the longest error text in bytes.
	MaxJobText = 1024
	// MaxJobCluster is the longest location cell name in bytes.
	MaxJobCluster = 64
	// MaxJobDigest is the longest digest of a unit's result in bytes;
	// a SHA-256 digest takes 32.
	MaxJobDigest = 64
	// MaxJobUnitList is the largest encoded unit list, job/sched's
	// MaxUnitListBytes.
	MaxJobUnitList = 64 << 20
	// MaxJobUnitsPart is the most bytes of a unit list one JobUnits
	// carries, so that a part stays well under MaxMessageSize.
	MaxJobUnitsPart = 1 << 20
	// MaxJobUnitsParts is the most parts a unit list is cut into. It
	// leaves room for parts smaller than MaxJobUnitsPart.
	MaxJobUnitsParts = 4096
	// JobDigestSize is the size of a unit list's SHA-256 digest.
	JobDigestSize = 32
	// MaxJobState is the largest encoded scheduler state.
	MaxJobState = MaxMessageSize
)

// CodeJobUnitsMissing rejects a JobState whose unit list the receiver
// does not hold: the sender sends the list's parts (JobUnits), then the
// state again.
const CodeJobUnitsMissing ErrorCode = 110

// Roles of a JobState's receiver.
const (
	JobBackup  uint8 = 0
	JobManager uint8 = 1
)

func init() {
	for t, name := range map[Type]string{
		TypeJobState:         "JOB_STATE",
		TypeJobAssign:        "JOB_ASSIGN",
		TypeJobReport:        "JOB_REPORT",
		TypeJobPing:          "JOB_PING",
		TypeJobStatusRequest: "JOB_STATUS_REQUEST",
		TypeJobStatus:        "JOB_STATUS",
		TypeJobAck:           "JOB_ACK",
		TypeJobSum:           "JOB_SUM",
		TypeJobUnits:         "JOB_UNITS",
	} {
		typeNames[t] = name
	}
}

func newJobMessage(t Type) Message {
	switch t {
	case TypeJobState:
		return new(JobState)
	case TypeJobAssign:
		return new(JobAssign)
	case TypeJobReport:
		return new(JobReport)
	case TypeJobPing:
		return new(JobPing)
	case TypeJobStatusRequest:
		return new(JobStatusRequest)
	case TypeJobStatus:
		return new(JobStatus)
	case TypeJobAck:
		return new(JobAck)
	case TypeJobSum:
		return new(JobSum)
	case TypeJobUnits:
		return new(JobUnits)
	}
	return nil
}

// JobState hands a job's scheduler state (job/sched's EncodeState) and
// the aggregate of exactly the units it lists as committed (job
// encoding) to a manager or a backup. Peer is the other of the two.
// UnitList is the SHA-256 digest of the unit list the state belongs
// to, which the receiver must hold already (JobUnits). Key 6, the
// whole snapshot of earlier versions, is not reused.
type JobState struct {
	JobID    string   `cbor:"1,keyasint"`
	Epoch    uint64   `cbor:"2,keyasint"`
	Role     uint8    `cbor:"3,keyasint"`
	Peer     *Contact `cbor:"4,keyasint,omitempty"`
	Spec     []byte   `cbor:"5,keyasint"`
	Partial  []byte   `cbor:"7,keyasint,omitempty"`
	Done     bool     `cbor:"8,keyasint,omitempty"`
	Canceled bool     `cbor:"9,keyasint,omitempty"`
	// Submitter is the node that submitted the job, for the status line.
	Submitter string `cbor:"10,keyasint,omitempty"`
	// SumStore is the submitting node when workers store the job's page
	// sums through it (JobSum), and nil otherwise.
	SumStore *Contact `cbor:"11,keyasint,omitempty"`
	State    []byte   `cbor:"12,keyasint"`
	UnitList []byte   `cbor:"13,keyasint"`
}

// JobUnits carries part Part of Parts of a job's encoded unit list
// (job/sched's EncodeUnitList), which is Size bytes long and has the
// SHA-256 digest Digest. Every part but the last carries the same
// number of bytes. The receiver acknowledges each part with JobAck.
type JobUnits struct {
	JobID  string `cbor:"1,keyasint"`
	Digest []byte `cbor:"2,keyasint"`
	Part   uint32 `cbor:"3,keyasint"`
	Parts  uint32 `cbor:"4,keyasint"`
	Size   uint64 `cbor:"5,keyasint"`
	Bytes  []byte `cbor:"6,keyasint"`
}

// JobAssign gives a worker one unit under a lease.
type JobAssign struct {
	JobID    string   `cbor:"1,keyasint"`
	Epoch    uint64   `cbor:"2,keyasint"`
	Lease    uint64   `cbor:"3,keyasint"`
	Unit     uint32   `cbor:"4,keyasint"`
	Segments []string `cbor:"5,keyasint"`
	Spec     []byte   `cbor:"6,keyasint"`
	// SumStore is JobState's: where the worker sends its page sums.
	SumStore *Contact `cbor:"7,keyasint,omitempty"`
}

// JobReport returns a unit's result, or the error that failed it.
type JobReport struct {
	JobID  string `cbor:"1,keyasint"`
	Epoch  uint64 `cbor:"2,keyasint"`
	Lease  uint64 `cbor:"3,keyasint"`
	Unit   uint32 `cbor:"4,keyasint"`
	Result []byte `cbor:"5,keyasint,omitempty"`
	Err    string `cbor:"6,keyasint,omitempty"`
	// Digest, when set, is what the manager compares in place of Result
	// when the job verifies units on several workers, such as a digest
	// of the page sums a worker stored when Result references them.
	Digest []byte `cbor:"7,keyasint,omitempty"`
	// Bytes is how many bytes of stored segments the worker read, and
	// DataCluster the location cell most of the unit's readings came
	// from, empty when none had a position on the globe.
	Bytes       uint64 `cbor:"20,keyasint,omitempty"`
	DataCluster string `cbor:"21,keyasint,omitempty"`
}

// JobPing asks whether the receiver still serves the job.
type JobPing struct {
	JobID string `cbor:"1,keyasint"`
	Epoch uint64 `cbor:"2,keyasint"`
}

// JobStatusRequest asks a job's manager or backup for its progress, and
// with Cancel set stops the job.
type JobStatusRequest struct {
	JobID  string `cbor:"1,keyasint"`
	Cancel bool   `cbor:"2,keyasint,omitempty"`
}

// JobStatus answers a JobStatusRequest. Partial is the aggregate of the
// committed units, set once the job is done.
type JobStatus struct {
	JobID     string `cbor:"1,keyasint"`
	Epoch     uint64 `cbor:"2,keyasint"`
	Manager   bool   `cbor:"3,keyasint,omitempty"`
	Units     uint32 `cbor:"4,keyasint"`
	Committed uint32 `cbor:"5,keyasint"`
	Failed    uint32 `cbor:"6,keyasint"`
	Workers   uint32 `cbor:"7,keyasint"`
	Done      bool   `cbor:"8,keyasint,omitempty"`
	Canceled  bool   `cbor:"9,keyasint,omitempty"`
	Partial   []byte `cbor:"10,keyasint,omitempty"`
	Err       string `cbor:"11,keyasint,omitempty"`
	// Bytes of input of the committed units by where they were read: in
	// the data's cluster, outside it, or where a cluster was unknown.
	// BytesHeld counts those of the three read on a node that holds them.
	BytesHeld    uint64 `cbor:"20,keyasint,omitempty"`
	BytesCluster uint64 `cbor:"21,keyasint,omitempty"`
	BytesRemote  uint64 `cbor:"22,keyasint,omitempty"`
	BytesUnknown uint64 `cbor:"23,keyasint,omitempty"`
	// LeftOut counts the workers this manager left out of the job for a
	// while after they failed units in a row, and LeftOutErr is the error
	// of the last one, at most MaxJobText bytes.
	LeftOut    uint32 `cbor:"24,keyasint,omitempty"`
	LeftOutErr string `cbor:"25,keyasint,omitempty"`
	// FailedErr is the failure reason of the lowest failed unit, such as
	// the error of its last run or the workers whose results disagreed,
	// at most MaxJobText bytes. It is empty when no unit failed or the reason
	// was lost when a backup took over.
	FailedErr string `cbor:"26,keyasint,omitempty"`
}

// JobAck accepts a job message. Epoch is the receiver's newest epoch of
// the job, which tells a deposed manager that it is.
type JobAck struct {
	Epoch uint64 `cbor:"1,keyasint"`
	// ComputeTier is the sender's compute tier plus one (1 upper, 2
	// middle, 3 lower), or 0 when not given, and Cluster its location
	// cell. Workers set both in answer to a JobPing.
	ComputeTier uint8  `cbor:"20,keyasint,omitempty"`
	Cluster     string `cbor:"21,keyasint,omitempty"`
}

func (*JobState) Type() Type         { return TypeJobState }
func (*JobAssign) Type() Type        { return TypeJobAssign }
func (*JobReport) Type() Type        { return TypeJobReport }
func (*JobPing) Type() Type          { return TypeJobPing }
func (*JobStatusRequest) Type() Type { return TypeJobStatusRequest }
func (*JobStatus) Type() Type        { return TypeJobStatus }

// JobSum carries one page sum of a sealed job's unit (job/he encoding of
// one page sum) to the submitting node, which stores it as a record
// under a key made of the job, the sender's node ID, the assignment's
// unit, epoch and lease, and Index. The submitter answers with JobAck.
type JobSum struct {
	JobID string `cbor:"1,keyasint"`
	Epoch uint64 `cbor:"2,keyasint"`
	Lease uint64 `cbor:"3,keyasint"`
	Unit  uint32 `cbor:"4,keyasint"`
	Index uint32 `cbor:"5,keyasint"`
	Sum   []byte `cbor:"6,keyasint"`
}

func (*JobAck) Type() Type   { return TypeJobAck }
func (*JobSum) Type() Type   { return TypeJobSum }
func (*JobUnits) Type() Type { return TypeJobUnits }

// IsJobType reports whether t is a job message type.
func IsJobType(t Type) bool { return t >= TypeJobState && t <= TypeJobUnits }

func validJobID(id string) error {
	if id == "" || len(id) > MaxJobID {
		return fmt.Errorf("job id is %d bytes, want 1 to %d", len(id), MaxJobID)
	}
	return nil
}

func (m *JobState) Validate() error {
	if err := validJobID(m.JobID); err != nil {
		return err
	}
	if m.Role > JobManager {
		return fmt.Errorf("job role %d is unknown", m.Role)
	}
	if m.Peer != nil {
		if err := m.Peer.Validate(); err != nil {
			return fmt.Errorf("job peer: %w", err)
		}
	}
	if len(m.Spec) == 0 || len(m.Spec) > MaxJobSpec {
		return fmt.Errorf("job spec is %d bytes, want 1 to %d", len(m.Spec), MaxJobSpec)
	}
	if len(m.State) == 0 || len(m.State) > MaxJobState {
		return fmt.Errorf("job state is %d bytes, want 1 to %d", len(m.State), MaxJobState)
	}
	if len(m.UnitList) != JobDigestSize {
		return fmt.Errorf("job state names a unit list digest of %d bytes, want %d", len(m.UnitList), JobDigestSize)
	}
	if len(m.Partial) > MaxJobResult {
		return fmt.Errorf("job partial is %d bytes, limit %d", len(m.Partial), MaxJobResult)
	}
	if len(m.Submitter) > MaxJobID*2 {
		return fmt.Errorf("job submitter is %d bytes, limit %d", len(m.Submitter), MaxJobID*2)
	}
	return validSumStore(m.SumStore)
}

func validSumStore(c *Contact) error {
	if c == nil {
		return nil
	}
	if err := c.Validate(); err != nil {
		return fmt.Errorf("job sum store: %w", err)
	}
	return nil
}

func (m *JobUnits) Validate() error {
	if err := validJobID(m.JobID); err != nil {
		return err
	}
	if len(m.Digest) != JobDigestSize {
		return fmt.Errorf("job unit list digest is %d bytes, want %d", len(m.Digest), JobDigestSize)
	}
	if m.Parts == 0 || m.Parts > MaxJobUnitsParts || m.Part >= m.Parts {
		return fmt.Errorf("job unit list part %d of %d, want a part below 1 to %d parts", m.Part, m.Parts, MaxJobUnitsParts)
	}
	if m.Size == 0 || m.Size > MaxJobUnitList || m.Size > uint64(m.Parts)*MaxJobUnitsPart || m.Size < uint64(m.Parts) {
		return fmt.Errorf("job unit list of %d bytes in %d parts, want 1 to %d bytes and 1 to %d bytes a part",
			m.Size, m.Parts, MaxJobUnitList, MaxJobUnitsPart)
	}
	if len(m.Bytes) == 0 || len(m.Bytes) > MaxJobUnitsPart || uint64(len(m.Bytes)) > m.Size {
		return fmt.Errorf("job unit list part %d is %d bytes, want 1 to %d and at most the list's %d",
			m.Part, len(m.Bytes), MaxJobUnitsPart, m.Size)
	}
	return nil
}

func (m *JobAssign) Validate() error {
	if err := validJobID(m.JobID); err != nil {
		return err
	}
	if len(m.Segments) == 0 || len(m.Segments) > MaxJobSegments {
		return fmt.Errorf("job assignment names %d segments, want 1 to %d", len(m.Segments), MaxJobSegments)
	}
	for i, s := range m.Segments {
		if s == "" || len(s) > MaxJobSegmentKey {
			return fmt.Errorf("segments[%d] is %d bytes, want 1 to %d", i, len(s), MaxJobSegmentKey)
		}
	}
	if len(m.Spec) == 0 || len(m.Spec) > MaxJobSpec {
		return fmt.Errorf("job spec is %d bytes, want 1 to %d", len(m.Spec), MaxJobSpec)
	}
	return validSumStore(m.SumStore)
}

func (m *JobSum) Validate() error {
	if err := validJobID(m.JobID); err != nil {
		return err
	}
	if m.Index >= MaxJobSegments {
		return fmt.Errorf("job sum index %d, want below %d: a unit adds at most one sum per segment", m.Index, MaxJobSegments)
	}
	if len(m.Sum) == 0 || len(m.Sum) > MaxJobResult {
		return fmt.Errorf("job sum is %d bytes, want 1 to %d", len(m.Sum), MaxJobResult)
	}
	return nil
}

func (m *JobReport) Validate() error {
	if err := validJobID(m.JobID); err != nil {
		return err
	}
	if len(m.Result) > MaxJobResult {
		return fmt.Errorf("job result is %d bytes, limit %d", len(m.Result), MaxJobResult)
	}
	if len(m.Err) > MaxJobText {
		return fmt.Errorf("job error is %d bytes, limit %d", len(m.Err), MaxJobText)
	}
	if len(m.Digest) > MaxJobDigest {
		return fmt.Errorf("job result digest is %d bytes, limit %d", len(m.Digest), MaxJobDigest)
	}
	if len(m.DataCluster) > MaxJobCluster {
		return fmt.Errorf("job data cluster is %d bytes, limit %d", len(m.DataCluster), MaxJobCluster)
	}
	return nil
}

func (m *JobPing) Validate() error          { return validJobID(m.JobID) }
func (m *JobStatusRequest) Validate() error { return validJobID(m.JobID) }

func (m *JobAck) Validate() error {
	if m.ComputeTier > 3 {
		return fmt.Errorf("job ack names compute tier %d, want 0 to 3", m.ComputeTier)
	}
	if len(m.Cluster) > MaxJobCluster {
		return fmt.Errorf("job ack cluster is %d bytes, limit %d", len(m.Cluster), MaxJobCluster)
	}
	return nil
}

func (m *JobStatus) Validate() error {
	if err := validJobID(m.JobID); err != nil {
		return err
	}
	if m.Committed+m.Failed > m.Units {
		return fmt.Errorf("job status counts %d committed and %d failed of %d units", m.Committed, m.Failed, m.Units)
	}
	if len(m.Partial) > MaxJobResult {
		return fmt.Errorf("job partial is %d bytes, limit %d", len(m.Partial), MaxJobResult)
	}
	if len(m.Err) > MaxJobText {
		return fmt.Errorf("job error is %d bytes, limit %d", len(m.Err), MaxJobText)
	}
	if len(m.LeftOutErr) > MaxJobText {
		return fmt.Errorf("job left-out worker error is %d bytes, limit %d", len(m.LeftOutErr), MaxJobText)
	}
	if len(m.FailedErr) > MaxJobText {
		return fmt.Errorf("job failed unit error is %d bytes, limit %d", len(m.FailedErr), MaxJobText)
	}
	return nil
}
