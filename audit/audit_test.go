package audit

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"
)

func TestNewFailsCleanlyAndCanBeRetried(t *testing.T) {
	reg := prometheus.NewRegistry()
	bad := Config{Sinks: []SinkConfig{{Type: "file", Path: "/proc/crmgw-cannot-write/audit.jsonl"}}, SpoolDir: t.TempDir()}
	if _, err := New(bad, AlertsConfig{}, nil, reg, zaptest.NewLogger(t)); err == nil {
		t.Fatal("New with an unwritable file sink succeeded")
	}
	if _, err := New(Config{Sinks: []SinkConfig{{Type: "kafka"}}}, AlertsConfig{}, nil, reg, nil); err == nil ||
		!strings.Contains(err.Error(), "sinks[0].type") {
		t.Fatalf("invalid config: %v", err)
	}
	a, err := New(fileConfig(t, t.TempDir()), AlertsConfig{}, nil, reg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("New after a failed New on the same registry: %v", err)
	}
	closeAuditor(t, a)
}
