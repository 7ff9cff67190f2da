// Package store is the distributed store: it keeps encrypted records
// across the overlay's nodes with erasure coding, quorum writes and
// repair. docs/storage.md describes the design.
//
// A node plays two roles. As a gateway it serves its local users: it
// chunks, encrypts, codes and signs on writes, and verifies, decodes and
// decrypts on reads. As a holder it stores shards and record versions for
// others, checking what it can without keys.
package store

import (
	"context"
	"errors"
	"io"
	"time"
)

// Errors returned by the gateway. Each is wrapped with the names involved.
var (
	// ErrNotFound reports a record that does not exist or was deleted.
	ErrNotFound = errors.New("store: record not found")
	// ErrDeleted reports a record whose newest version is a deletion.
	// errors.Is matches it with ErrNotFound too.
	ErrDeleted error = deletedError{}
	// ErrNoNamespace reports a namespace that no holder has a descriptor
	// of. errors.Is matches it with ErrNotFound too.
	ErrNoNamespace error = noNamespaceError{}
	// ErrForbidden reports a user without the right to read or write.
	ErrForbidden = errors.New("store: permission denied")
	// ErrInvalid reports an invalid namespace, key, value or option.
	ErrInvalid = errors.New("store: invalid request")
	// ErrUnavailable reports too few reachable holders to write or read
	// with the namespace's redundancy.
	ErrUnavailable = errors.New("store: not enough holders reachable")
	// ErrCorrupt reports data that failed verification on every copy.
	ErrCorrupt = errors.New("store: data failed verification")
)

// deletedError is ErrDeleted.
type deletedError struct{}

func (deletedError) Error() string { return "store: record deleted" }

func (deletedError) Is(target error) bool { return target == ErrNotFound }

// noNamespaceError is ErrNoNamespace.
type noNamespaceError struct{}

func (noNamespaceError) Error() string { return "store: namespace not found" }

func (noNamespaceError) Is(target error) bool { return target == ErrNotFound }

// RecordInfo describes one record version as its reader sees it.
type RecordInfo struct {
	Namespace   string    `json:"namespace"`
	Key         string    `json:"key"`
	Version     uint64    `json:"version"`
	Size        uint64    `json:"size"`
	ContentType string    `json:"content_type,omitempty"`
	Owner       string    `json:"owner"`  // the namespace owner's user name or key fingerprint
	Writer      string    `json:"writer"` // the signer's user name or key fingerprint
	Created     time.Time `json:"created"`
	Modified    time.Time `json:"modified"`
	Chunks      int       `json:"chunks"`
	// Groups are the field groups the reader holds keys for, by name.
	Groups map[string]map[string][]byte `json:"groups,omitempty"`
	// HiddenGroups names the record's other groups, which the reader
	// cannot open.
	HiddenGroups []string `json:"hidden_groups,omitempty"`
}

// PutOptions tunes a write.
type PutOptions struct {
	ContentType string
	// Size is the value's length if known, for progress reports; -1 if
	// unknown.
	Size int64
	// Progress, if set, is called with the bytes written so far.
	Progress func(done int64)
	// Groups are field groups stored with the value, each sealed under
	// its own key: group name -> field name -> value.
	Groups map[string]map[string][]byte
	// GroupReaders limits who may open a group: besides the namespace's
	// owners and writers, only the users listed for it. A group not
	// listed here is readable by everyone granted read access to the
	// key.
	GroupReaders map[string][]PublicUser
	// Cell, in a namespace placed by cluster, names the cell the data
	// comes from, such as the cell of the sensors whose readings the
	// value holds; empty means the gateway's own cell.
	Cell string
}

// GetOptions tunes a read.
type GetOptions struct {
	// Progress, if set, is called with the bytes read so far.
	Progress func(done int64)
}

// Gateway is what a node's users call: the HTTP API and the CLI reach the
// store only through it. User names the local user (a key pair in the
// node's data folder) on whose behalf the call runs.
type Gateway interface {
	Put(ctx context.Context, user, namespace, key string, value io.Reader, opts PutOptions) (*RecordInfo, error)
	Get(ctx context.Context, user, namespace, key string, w io.Writer, opts GetOptions) (*RecordInfo, error)
	Delete(ctx context.Context, user, namespace, key string) error
	List(ctx context.Context, user, namespace, prefix string) ([]RecordInfo, error)
	// PutBatch writes many small records of one namespace at once, packed
	// into coded segments.
	PutBatch(ctx context.Context, user, namespace string, records []BatchRecord) ([]RecordInfo, error)
	// GetBatch reads many records of one namespace at once; each result
	// carries its own error.
	GetBatch(ctx context.Context, user, namespace string, keys []string) ([]BatchValue, error)
	// Grant gives a user read or write access to a key or to every key
	// under a prefix ("" for the whole namespace); Revoke removes it for
	// versions written afterwards. A keyOrPrefix that is empty or ends in
	// "/" covers every key that starts with it; any other value covers
	// that key alone. Write access always covers the whole namespace,
	// because the access list that holders check names writers, not keys.
	Grant(ctx context.Context, owner, namespace, keyOrPrefix string, grantee PublicUser, right Right) error
	Revoke(ctx context.Context, owner, namespace, keyOrPrefix string, grantee PublicUser, right Right) error
}

// BatchRecord is one record of a PutBatch.
type BatchRecord struct {
	Key         string
	Value       []byte
	ContentType string
}

// Right is an access right.
type Right string

// Rights.
const (
	Read  Right = "read"
	Write Right = "write"
)

// PublicUser is another user, known by name and public keys (the
// encoding of seal.PublicKeys).
type PublicUser struct {
	Name string
	Keys []byte
}
