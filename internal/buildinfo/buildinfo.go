// Package buildinfo holds the version and commit of the running binary,
// which cmd/crmgw receives from the linker (make build, the Dockerfile) and
// records here for the packages that report them: the crmgw_build_info
// metric and the tracing resource (docs/deploy.md).
package buildinfo

import (
	"runtime"
	"sync"
)

var (
	mu      sync.RWMutex
	version = "dev"
	commit  = "unknown"
)

// Set records the binary's version and commit; empty values are ignored.
func Set(v, c string) {
	mu.Lock()
	defer mu.Unlock()
	if v != "" {
		version = v
	}
	if c != "" {
		commit = c
	}
}

// Version is the binary's version ("dev" unless set at build time).
func Version() string { mu.RLock(); defer mu.RUnlock(); return version }

// Commit is the binary's commit ("unknown" unless set at build time).
func Commit() string { mu.RLock(); defer mu.RUnlock(); return commit }

// GoVersion is the Go release that built the binary.
func GoVersion() string { return runtime.Version() }
