package job

import (
	"fmt"
)

// MaxLayoutBytes bounds the slot layout of an encrypted job in its
// Record. The largest layout, 8,192 groups of one slot each with 128-byte
// sensor names, takes about 1.2 MiB (an estimate: 8,192 × 150 bytes).
const MaxLayoutBytes = 2 << 20

// MaxRecordBytes bounds an encoded Record: a spec, a partial, a slot
// layout and a few names.
const MaxRecordBytes = MaxSpecBytes + MaxPartialBytes + MaxLayoutBytes + 4<<10

// Record is the submitting node's stored copy of a job and its result.
// It is kept through the store in a namespace only the submitting user
// can read, so that both outlive a restart of the nodes.
type Record struct {
	// Spec is the job's encoded Spec.
	Spec []byte `cbor:"1,keyasint"`
	// User is the local user who submitted the job.
	User string `cbor:"2,keyasint"`
	// Created is when the job was submitted, in Unix nanoseconds.
	Created int64 `cbor:"3,keyasint"`
	// Manager and Backup are the node IDs (hex) and QUIC addresses of
	// the job's first manager and backup; Backup is empty without one.
	ManagerID   string `cbor:"4,keyasint"`
	ManagerAddr string `cbor:"5,keyasint"`
	BackupID    string `cbor:"6,keyasint,omitempty"`
	BackupAddr  string `cbor:"7,keyasint,omitempty"`
	// Final is the job's last status once it is done or canceled, with
	// its aggregate; nil while the job runs.
	Final *RecordStatus `cbor:"8,keyasint,omitempty"`
	// Layout is the submitting node's encoding of the slot layout of an
	// encrypted job's aggregate, without which the result cannot be
	// decrypted. It is empty for a plain job.
	Layout []byte `cbor:"9,keyasint,omitempty"`
	// Cleaned is set once the records an encrypted job kept in its
	// namespace (its submit-time ciphertexts and stored page sums) are
	// deleted, so that a restarted node does not look for them again.
	Cleaned bool `cbor:"10,keyasint,omitempty"`
}

// RecordStatus is a finished job's status.
type RecordStatus struct {
	Epoch     uint64 `cbor:"1,keyasint"`
	Units     uint32 `cbor:"2,keyasint"`
	Committed uint32 `cbor:"3,keyasint"`
	Failed    uint32 `cbor:"4,keyasint"`
	Done      bool   `cbor:"5,keyasint,omitempty"`
	Canceled  bool   `cbor:"6,keyasint,omitempty"`
	Err       string `cbor:"7,keyasint,omitempty"`
	// Partial is the job's encoded aggregate: a Partial for a plain job
	// and a BGV ciphertext for an encrypted one.
	Partial []byte `cbor:"8,keyasint,omitempty"`
	// Workers is the number of workers the job had at its end.
	Workers uint32 `cbor:"9,keyasint,omitempty"`
	// Bytes of input of the committed units by where they were read, as
	// the manager reported them.
	BytesHeld    uint64 `cbor:"10,keyasint,omitempty"`
	BytesCluster uint64 `cbor:"11,keyasint,omitempty"`
	BytesRemote  uint64 `cbor:"12,keyasint,omitempty"`
	BytesUnknown uint64 `cbor:"13,keyasint,omitempty"`
	// FailedErr is the failure reason of the lowest failed unit, or empty.
	FailedErr string `cbor:"14,keyasint,omitempty"`
}

// Encode returns the record's CBOR form.
func (r *Record) Encode() ([]byte, error) {
	b, err := encMode.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("job: encode record: %w", err)
	}
	if len(b) > MaxRecordBytes {
		return nil, fmt.Errorf("%w: record is %d bytes, limit %d", ErrInvalid, len(b), MaxRecordBytes)
	}
	return b, nil
}

// DecodeRecord parses and checks an encoded record: its spec and, for a
// plain job, its partial must decode too. The aggregate and the layout of
// an encrypted job are only bounded in size here, since the node that
// decrypts them checks them.
func DecodeRecord(b []byte) (*Record, *Spec, error) {
	if len(b) > MaxRecordBytes {
		return nil, nil, fmt.Errorf("%w: record is %d bytes, limit %d", ErrInvalid, len(b), MaxRecordBytes)
	}
	var r Record
	if err := decMode.Unmarshal(b, &r); err != nil {
		return nil, nil, fmt.Errorf("%w: record: %v", ErrInvalid, err)
	}
	spec, err := DecodeSpec(r.Spec)
	if err != nil {
		return nil, nil, err
	}
	if len(r.User) > 64 || len(r.ManagerID) > 64 || len(r.BackupID) > 64 || len(r.ManagerAddr) > 64 || len(r.BackupAddr) > 64 {
		return nil, nil, fmt.Errorf("%w: record of job %s has a name longer than 64 bytes", ErrInvalid, spec.ID)
	}
	if err := r.checkAggregate(spec); err != nil {
		return nil, nil, err
	}
	if r.Final != nil && len(r.Final.Err) > 4096 {
		return nil, nil, fmt.Errorf("%w: record of job %s has an error text of %d bytes, limit 4096", ErrInvalid, spec.ID, len(r.Final.Err))
	}
	if r.Final != nil && len(r.Final.FailedErr) > 4096 {
		return nil, nil, fmt.Errorf("%w: record of job %s has a failed unit error of %d bytes, limit 4096", ErrInvalid, spec.ID,
			len(r.Final.FailedErr))
	}
	return &r, spec, nil
}

// checkAggregate checks the result and layout of a record against the
// kind of job its spec describes.
func (r *Record) checkAggregate(spec *Spec) error {
	if !spec.Encrypted && len(r.Layout) > 0 {
		return fmt.Errorf("%w: record of plain job %s has a slot layout", ErrInvalid, spec.ID)
	}
	if len(r.Layout) > MaxLayoutBytes {
		return fmt.Errorf("%w: record of job %s has a layout of %d bytes, limit %d", ErrInvalid, spec.ID, len(r.Layout), MaxLayoutBytes)
	}
	if r.Final == nil || len(r.Final.Partial) == 0 {
		return nil
	}
	if spec.Encrypted {
		if len(r.Final.Partial) > MaxPartialBytes {
			return fmt.Errorf("%w: record of job %s has an aggregate of %d bytes, limit %d",
				ErrInvalid, spec.ID, len(r.Final.Partial), MaxPartialBytes)
		}
		return nil
	}
	_, err := DecodePartial(r.Final.Partial)
	return err
}
