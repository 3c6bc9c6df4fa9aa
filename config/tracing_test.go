package config

import (
	"strings"
	"testing"
)

func TestTracingSection(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string // problems, in order; none: valid
	}{
		{"absent: off", "", nil},
		{"endpoint alone: http/protobuf, every trace", "tracing: {endpoint: otel-collector:4318}\n", nil},
		{"grpc with a ratio", "tracing: {endpoint: 'http://127.0.0.1:4317', protocol: grpc, sample_ratio: 0.25, insecure: true}\n", nil},
		{"ratio above 1", "tracing: {endpoint: c:4318, sample_ratio: 1.5}\n",
			[]string{"crmgw.yaml:13: tracing.sample_ratio: must be between 0 and 1, got 1.5"}},
		{"unknown protocol", "tracing: {endpoint: c:4318, protocol: thrift}\n",
			[]string{`crmgw.yaml:13: tracing.protocol: must be grpc or http/protobuf, got "thrift"`}},
		{"no port", "tracing: {endpoint: collector}\n",
			[]string{`crmgw.yaml:13: tracing.endpoint: must be host:port or an http(s) URL, got "collector"`}},
		{"credentials in the URL", "tracing: {endpoint: 'https://user:pw@c:4318'}\n",
			[]string{"crmgw.yaml:13: tracing.endpoint: must not carry credentials; use tracing.headers"}},
		{"a ratio without an endpoint", "tracing: {sample_ratio: 0.5}\n",
			[]string{"tracing.endpoint: required when other tracing keys are set (tracing is off without it)"}},
		{"a misspelt key", "tracing: {endpont: c:4318}\n", []string{"tracing.endpont"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse("crmgw.yaml", []byte(minimal+tc.yaml), env(map[string]string{"SF_TOKEN": "t"}))
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected problems: %v", err)
				}
				if strings.Contains(tc.yaml, "endpoint") != cfg.Tracing.Enabled() {
					t.Errorf("Enabled() = %v", cfg.Tracing.Enabled())
				}
				if cfg.Tracing.Enabled() && (cfg.Tracing.Protocol == "" || cfg.Tracing.SampleRatio == nil || cfg.Tracing.ServiceName != "crmgw") {
					t.Errorf("defaults not filled: %+v", cfg.Tracing)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("problems %q do not contain %q", err, w)
				}
			}
		})
	}
}
