package search

import "errors"

// Errors returned by this package, each wrapped with the values involved.
// Errors of the store, such as store.ErrForbidden for a user without
// access to the namespace, are passed on wrapped.
var (
	// ErrInvalidQuery reports a query that breaks a rule of Query.
	ErrInvalidQuery = errors.New("search: invalid query")
	// ErrCorruptEntry reports a posting entry or segment that does not
	// open under the namespace's keys.
	ErrCorruptEntry = errors.New("search: corrupt index entry")
	// ErrUnavailable reports too few index holders reachable to store or
	// read postings.
	ErrUnavailable = errors.New("search: not enough index holders reachable")
)
