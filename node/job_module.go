package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/yuinet/yui/job"
	"github.com/yuinet/yui/job/sandbox"
	"github.com/yuinet/yui/storage/store"
)

// maxJobModules bounds the compiled modules a worker keeps; past it the
// cache starts afresh.
const maxJobModules = 8

// moduleHash reads a job's module from the namespace as user and returns
// its SHA-256 in hex, which workers check the module they read against.
func (n *Node) moduleHash(ctx context.Context, user, namespace, key string) (string, error) {
	var b bytes.Buffer
	if _, err := n.storage.store.Get(ctx, user, namespace, key, &b, store.GetOptions{}); err != nil {
		return "", fmt.Errorf("node: read job module %q: %w", key, err)
	}
	sum := sha256.Sum256(b.Bytes())
	return hex.EncodeToString(sum[:]), nil
}

// module returns the job's step compiled, reading and compiling it on
// first use. The lock is held while compiling, so concurrent units of a
// job compile it once.
func (s *jobService) module(ctx context.Context, spec *job.Spec) (*sandbox.Module, error) {
	s.modMu.Lock()
	defer s.modMu.Unlock()
	if m := s.modules[spec.ModuleHash]; m != nil {
		return m, nil
	}
	if s.runtime == nil {
		rt, err := sandbox.New(s.ctx, sandbox.Config{})
		if err != nil {
			return nil, err
		}
		s.runtime = rt
	}

	var b bytes.Buffer
	if _, err := s.n.storage.store.Get(ctx, spec.Reader, spec.Namespace, spec.Module, &b, store.GetOptions{}); err != nil {
		return nil, fmt.Errorf("node: read job module %q: %w", spec.Module, err)
	}
	sum := sha256.Sum256(b.Bytes())
	if got := hex.EncodeToString(sum[:]); got != spec.ModuleHash {
		return nil, fmt.Errorf("node: job module %q has SHA-256 %s, the job names %s; it changed after the job was submitted",
			spec.Module, got, spec.ModuleHash)
	}
	m, err := s.runtime.Compile(ctx, b.Bytes())
	if err != nil {
		return nil, err
	}
	if len(s.modules) >= maxJobModules {
		for h, old := range s.modules {
			old.Close(s.ctx)
			delete(s.modules, h)
		}
	}
	s.modules[spec.ModuleHash] = m
	return m, nil
}

// closeModules releases the compiled modules and the runtime.
func (s *jobService) closeModules() {
	s.modMu.Lock()
	defer s.modMu.Unlock()
	if s.runtime != nil {
		s.runtime.Close(context.Background())
		s.runtime = nil
	}
}
