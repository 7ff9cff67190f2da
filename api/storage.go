package api

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// Store endpoints. Record values travel as raw HTTP bodies, streamed in
// both directions; everything else is JSON.
//
//	PUT    /v1/ns/{ns}/records/{key...}   write a value (body), Content-Type kept
//	GET    /v1/ns/{ns}/records/{key...}   read a value; metadata in headers or trailers
//	DELETE /v1/ns/{ns}/records/{key...}   delete a record
//	GET    /v1/ns/{ns}/records?prefix=P   list records (RecordList)
//	POST   /v1/ns/{ns}/batch              write small records (JSON lines of BatchLine)
//	POST   /v1/ns/{ns}/read               read many records (ReadRequest, ReadResult)
//	POST   /v1/ns/{ns}/grants             grant a right (Grant)
//	DELETE /v1/ns/{ns}/grants             revoke a right (Grant)
//	GET    /v1/ns/{ns}/grants/{id}        state of a grant (GrantTask)
//	POST   /v1/users                      create a local user (CreateUser)
//	GET    /v1/users                      list local users ([]User)
//	GET    /v1/storage                    the local holder's counters (StorageStats)
//	POST   /v1/storage/repair             run a repair pass now (RepairReport)
//
// A key is one path segment escaped with EscapeKey, so keys may contain
// "/" and any other UTF-8 except NUL.
const (
	PathNamespaces = "/v1/ns/"
	PathUsers      = "/v1/users"
	// PathStorage serves the local holder's counters (GET, StorageStats);
	// PathRepair runs a repair pass at once (POST, RepairReport).
	PathStorage = "/v1/storage"
	PathRepair  = "/v1/storage/repair"
)

// HeaderUser names the node's local user on whose behalf a store request
// runs; DefaultUser when absent.
const HeaderUser = "X-Yui-User"

// DefaultUser is the local user a node creates on its first start and
// uses when a request names none.
const DefaultUser = "default"

// Metadata headers of a record read. A value is streamed as the store
// decodes it, so the node may only know the metadata after the last byte:
// it then sends these as HTTP trailers instead of headers.
const (
	HeaderVersion  = "X-Yui-Version"
	HeaderSize     = "X-Yui-Size"
	HeaderOwner    = "X-Yui-Owner"
	HeaderWriter   = "X-Yui-Writer"
	HeaderCreated  = "X-Yui-Created"
	HeaderModified = "X-Yui-Modified"
	HeaderChunks   = "X-Yui-Chunks"
	// HeaderContentType carries the value's type in a trailer, because
	// the Content-Type header of a streamed value went out before the
	// node knew it.
	HeaderContentType = "X-Yui-Content-Type"
)

// RecordHeaders lists the metadata headers of a record read, in the order
// the node declares them as trailers.
var RecordHeaders = []string{
	HeaderVersion, HeaderSize, HeaderOwner, HeaderWriter,
	HeaderCreated, HeaderModified, HeaderChunks,
}

// Size limits of store requests.
const (
	// MaxJSONBody bounds the JSON body of a user or grant request.
	MaxJSONBody = 64 << 10
	// MaxBatchBody bounds the whole body of a batch write.
	MaxBatchBody = 64 << 20
	// MaxBatchLine bounds one line of a batch write, which holds a
	// base64 value of up to about 768 KiB.
	MaxBatchLine = 1 << 20
	// MaxBatchRecords bounds the records of one batch write. It is the
	// store's own limit for one batch (store.MaxBatchRecords).
	MaxBatchRecords = 4096
	// MaxUserName is the longest user name, in bytes.
	MaxUserName = 64
)

// Record describes one record version as its reader sees it.
type Record struct {
	Namespace string `json:"namespace"`
	Key       string `json:"key"`
	// Version orders the versions of one key: 48 bits of milliseconds
	// since the Unix epoch, then a 16-bit counter.
	Version uint64 `json:"version"`
	// Size is the value's length in bytes.
	Size        uint64 `json:"size"`
	ContentType string `json:"content_type,omitempty"`
	// Owner and Writer are user names or public-key fingerprints.
	Owner    string    `json:"owner"`
	Writer   string    `json:"writer"`
	Created  time.Time `json:"created"`
	Modified time.Time `json:"modified"`
	// Chunks is the number of chunks the value was cut into; 0 for a
	// value stored inline or in a batch segment.
	Chunks int `json:"chunks"`
}

// RecordList is the response to a list request.
type RecordList struct {
	Records []Record `json:"records"`
}

// BatchLine is one line of a batch write. Exactly one of Value (UTF-8
// text) and ValueBase64 (any bytes, standard base64 with padding) is set;
// an empty value is Value "".
type BatchLine struct {
	Key         string  `json:"key"`
	Value       *string `json:"value,omitempty"`
	ValueBase64 *string `json:"value_base64,omitempty"`
	ContentType string  `json:"content_type,omitempty"`
}

// Bytes returns the line's value, decoding ValueBase64 if that is the
// field set.
func (l *BatchLine) Bytes() ([]byte, error) {
	switch {
	case l.Value != nil && l.ValueBase64 != nil:
		return nil, fmt.Errorf("key %q has both value and value_base64; send one", l.Key)
	case l.Value != nil:
		return []byte(*l.Value), nil
	case l.ValueBase64 != nil:
		b, err := base64.StdEncoding.DecodeString(*l.ValueBase64)
		if err != nil {
			return nil, fmt.Errorf("key %q: invalid value_base64: %v", l.Key, err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("key %q has neither value nor value_base64; send one", l.Key)
}

// NewBatchLine returns the line for a record, as text when value is valid
// UTF-8 and as base64 otherwise.
func NewBatchLine(key string, value []byte, contentType string) BatchLine {
	l := BatchLine{Key: key, ContentType: contentType}
	if utf8.Valid(value) {
		s := string(value)
		l.Value = &s
	} else {
		s := base64.StdEncoding.EncodeToString(value)
		l.ValueBase64 = &s
	}
	return l
}

// BatchResult is the response to a batch write: one record per line, in
// the order of the lines.
type BatchResult struct {
	Records []Record `json:"records"`
}

// Right is an access right a namespace owner grants.
type Right string

// Rights.
const (
	RightRead  Right = "read"
	RightWrite Right = "write"
)

// Grant is the request to give a user a right, or to revoke it, on a key
// or on every key under a prefix ("" for the whole namespace).
type Grant struct {
	KeyOrPrefix string `json:"key_or_prefix"`
	// User is the grantee's name, for display; PublicKeys identify it.
	User string `json:"user"`
	// PublicKeys is the grantee's public-key encoding, as User.PublicKeys
	// and 'yui user show' give it.
	PublicKeys []byte `json:"public_keys"`
	Right      Right  `json:"right"`
}

// GrantTask is the state of a grant or revoke on the node that applies
// it. The node changes the namespace's access before it responds. A read
// grant then wraps the keys of the records that exist already for the
// reader, in the background on the node: a client that stops waiting
// does not stop it. Sending the same grant again while it runs returns
// the running task; once it has ended, it re-wraps only the records the
// reader still cannot read.
type GrantTask struct {
	// ID names the task in GET PathNamespaces+"{ns}/grants/{id}".
	ID          string `json:"id"`
	Namespace   string `json:"namespace"`
	User        string `json:"user"`
	KeyOrPrefix string `json:"key_or_prefix"`
	Right       Right  `json:"right"`
	// State is GrantRunning, GrantDone or GrantFailed.
	State string `json:"state"`
	// Dirs is the number of directory shards of the namespace, and
	// DirsListed how many the node has listed so far.
	Dirs       int `json:"dirs"`
	DirsListed int `json:"dirs_listed"`
	// Total counts the records listed so far that need the reader's key,
	// final once DirsListed equals Dirs; Rewrapped counts those done.
	Total     int `json:"total"`
	Rewrapped int `json:"rewrapped"`
	// Already counts the records in scope the reader could read before,
	// from an earlier run of the same grant.
	Already int `json:"already"`
	// Error and Fix describe a failed task.
	Error string `json:"error,omitempty"`
	Fix   string `json:"fix,omitempty"`
}

// States of a GrantTask.
const (
	GrantRunning = "running"
	GrantDone    = "done"
	GrantFailed  = "failed"
)

// Placement is the request to set where a namespace's chunks are stored:
// PlacementGlobal (the closest holders of the whole network) or
// PlacementCluster (the holders of the writer's geographic cluster).
type Placement struct {
	Placement string `json:"placement"`
}

// Placements a namespace can have.
const (
	PlacementGlobal  = "global"
	PlacementCluster = "cluster"
)

// CreateUser is the request to create a local user.
type CreateUser struct {
	Name string `json:"name"`
}

// User is a local user of a node, with the public half of its keys.
type User struct {
	Name string `json:"name"`
	// PublicKeys is the encoding of the user's public keys that other
	// users' grants name.
	PublicKeys []byte `json:"public_keys"`
	// Fingerprint is the hex SHA-256 of PublicKeys.
	Fingerprint string `json:"fingerprint"`
}

// StorageStats counts what a node's holder keeps and has done since it
// started.
type StorageStats struct {
	// Tier is upper, middle or lower.
	Tier        string `json:"tier"`
	ShardsHeld  int64  `json:"shards_held"`
	ShardBytes  int64  `json:"shard_bytes"`
	MetaEntries int64  `json:"meta_entries"`
	MetaBytes   int64  `json:"meta_bytes"`
	// ShardsWritten and RecordsWritten count writes stored for others.
	ShardsWritten  uint64 `json:"shards_written"`
	RecordsWritten uint64 `json:"records_written"`
	CorruptShards  uint64 `json:"corrupt_shards"`
	// RepairsDone counts shards rebuilt and record versions copied by
	// repair, and RepairBytes the bytes it sent.
	RepairsDone uint64 `json:"repairs_done"`
	RepairBytes uint64 `json:"repair_bytes"`
	// Rejected counts rejected writes by reason.
	Rejected map[string]uint64 `json:"rejected,omitempty"`
}

// RepairReport counts what one repair pass did.
type RepairReport struct {
	Namespaces    int `json:"namespaces"`
	Directories   int `json:"directories"`
	RecordsPushed int `json:"records_pushed"`
	RecordsPulled int `json:"records_pulled"`
	HandedOver    int `json:"handed_over"`
	Chunks        int `json:"chunks"`
	ShardsRebuilt int `json:"shards_rebuilt"`
	// ShardsMoved counts shards handed over to closer holders,
	// ShardsDropped surplus copies dropped, and WrongShards shards with a
	// valid hash but wrong contents that were replaced.
	ShardsMoved   int `json:"shards_moved"`
	ShardsDropped int `json:"shards_dropped"`
	WrongShards   int `json:"wrong_shards"`
	// Lookups counts the lookups made to find holders.
	Lookups           int   `json:"lookups"`
	ChunksLost        int   `json:"chunks_lost"`
	BytesSent         int64 `json:"bytes_sent"`
	TombstonesDropped int   `json:"tombstones_dropped"`
	CorruptDropped    int   `json:"corrupt_dropped"`
	// Errors counts failed requests, which the next pass retries.
	Errors int `json:"errors"`
	// IndexPartitions counts the search index partitions held here and
	// checked, IndexPostingsSent the postings sent to their holders that
	// lacked them, and IndexErrors the transfers that failed.
	IndexPartitions   int `json:"index_partitions"`
	IndexPostingsSent int `json:"index_postings_sent"`
	IndexErrors       int `json:"index_errors"`
	// DurationMs is the pass's duration in milliseconds.
	DurationMs float64 `json:"duration_ms"`
}

// Error codes in StoreError.Code, one per class of store failure.
const (
	CodeNotFound    = "not_found"
	CodeForbidden   = "forbidden"
	CodeInvalid     = "invalid"
	CodeUnavailable = "unavailable"
	CodeCorrupt     = "corrupt"
	CodeExists      = "exists"
	CodeInternal    = "internal"
)

// StoreError is the body of a failed store or user request.
type StoreError struct {
	// Error names what failed and on which value.
	Error string `json:"error"`
	// Code is one of the Code constants.
	Code string `json:"code"`
	// Fix is the action that may resolve the error, if there is one.
	Fix string `json:"fix,omitempty"`
}

// Errors of failed store requests. The client's *StatusError unwraps to
// the one that matches its StoreError.Code.
var (
	ErrNotFound    = errors.New("api: not found")
	ErrForbidden   = errors.New("api: permission denied")
	ErrInvalid     = errors.New("api: invalid request")
	ErrUnavailable = errors.New("api: not enough holders reachable")
	ErrCorrupt     = errors.New("api: data failed verification")
	ErrExists      = errors.New("api: already exists")
	// ErrInterrupted reports a value stream that ended early, because the
	// node failed while sending it or the connection broke.
	ErrInterrupted = errors.New("api: transfer interrupted")
)

var codeErrors = map[string]error{
	CodeNotFound:    ErrNotFound,
	CodeForbidden:   ErrForbidden,
	CodeInvalid:     ErrInvalid,
	CodeUnavailable: ErrUnavailable,
	CodeCorrupt:     ErrCorrupt,
	CodeExists:      ErrExists,
	CodeTooLarge:    ErrTooLarge,
}

// EscapeKey escapes a record key into one URL path segment. Every "/" is
// escaped, and so are the keys "." and "..", which HTTP routers would
// otherwise resolve as relative path segments.
func EscapeKey(key string) string {
	s := url.PathEscape(key)
	if s == "." || s == ".." {
		s = strings.ReplaceAll(s, ".", "%2E")
	}
	return s
}

// RecordPath returns the path of a record.
func RecordPath(namespace, key string) string {
	return PathNamespaces + url.PathEscape(namespace) + "/records/" + EscapeKey(key)
}

// ValidateUserName checks a local user name: 1 to 64 bytes of
// [a-z0-9._-], starting with a letter or digit, so that it is safe as a
// file name and a header value.
func ValidateUserName(name string) error {
	if name == "" || len(name) > MaxUserName {
		return fmt.Errorf("%w: user name %q is %d bytes; use 1 to %d", ErrInvalid, name, len(name), MaxUserName)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := 'a' <= c && c <= 'z' || '0' <= c && c <= '9'
		if !alnum && c != '.' && c != '_' && c != '-' {
			return fmt.Errorf("%w: user name %q has %q at byte %d; use only a-z, 0-9, '.', '_' and '-'",
				ErrInvalid, name, c, i)
		}
		if i == 0 && !alnum {
			return fmt.Errorf("%w: user name %q must start with a-z or 0-9", ErrInvalid, name)
		}
	}
	return nil
}
