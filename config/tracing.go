package config

import (
	"errors"
	"net/url"
	"strings"

	"github.com/crmgw/crmgw/internal/confkey"
)

// TracingConfig is the OpenTelemetry tracing section (docs/tracing.md).
// Tracing is off unless Endpoint is set; off, the request path makes no
// span and pays nothing for it.
type TracingConfig struct {
	// Endpoint is the OTLP collector: host:port, or an http(s):// URL.
	Endpoint string `yaml:"endpoint"`
	// Protocol is grpc or http/protobuf (default).
	Protocol string `yaml:"protocol"`
	// SampleRatio is the share of new traces recorded, 0 to 1 (default 1).
	// A caller's sampled flag in traceparent is followed.
	SampleRatio *float64 `yaml:"sample_ratio"`
	// Insecure sends OTLP without TLS (a collector on the same host or pod).
	Insecure bool `yaml:"insecure"`
	// Headers are sent with every export (e.g. a collector's API key;
	// ${ENV} works here as everywhere).
	Headers map[string]string `yaml:"headers"`
	// ServiceName is the service.name resource attribute (default crmgw).
	ServiceName string `yaml:"service_name"`
}

// Enabled reports whether spans are made and exported.
func (t *TracingConfig) Enabled() bool { return t.Endpoint != "" }

// SetDefaults fills the protocol, ratio and service name.
func (t *TracingConfig) SetDefaults() {
	if !t.Enabled() {
		return
	}
	if t.Protocol == "" {
		t.Protocol = "http/protobuf"
	}
	if t.SampleRatio == nil {
		one := 1.0
		t.SampleRatio = &one
	}
	if t.ServiceName == "" {
		t.ServiceName = "crmgw"
	}
}

// Validate reports every problem of the section, keys relative to it.
func (t *TracingConfig) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) { errs = append(errs, confkey.Errorf(key, format, args...)) }
	if !t.Enabled() {
		if t.Protocol != "" || t.SampleRatio != nil || len(t.Headers) > 0 {
			bad("endpoint", "required when other tracing keys are set (tracing is off without it)")
		}
		return errors.Join(errs...)
	}
	switch t.Protocol {
	case "grpc", "http/protobuf":
	default:
		bad("protocol", "must be grpc or http/protobuf, got %q", t.Protocol)
	}
	if strings.Contains(t.Endpoint, "://") {
		u, err := url.Parse(t.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("endpoint", "must be host:port or an http(s) URL, got %q", t.Endpoint)
		} else if u.User != nil {
			bad("endpoint", "must not carry credentials; use tracing.headers")
		}
	} else if _, port, ok := strings.Cut(t.Endpoint, ":"); !ok || port == "" {
		bad("endpoint", "must be host:port or an http(s) URL, got %q", t.Endpoint)
	}
	if r := t.SampleRatio; r != nil && (*r < 0 || *r > 1 || *r != *r) {
		bad("sample_ratio", "must be between 0 and 1, got %v", *r)
	}
	return errors.Join(errs...)
}
