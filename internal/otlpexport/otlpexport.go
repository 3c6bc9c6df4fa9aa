// Package otlpexport builds the OpenTelemetry span exporter of
// tracing.endpoint: OTLP over HTTP (protobuf) or gRPC (docs/tracing.md).
//
// It is a package of its own so that only the product binary links the
// exporters (gRPC alone is about a hundred packages): the proxy takes the
// constructor from cmd/crmgw (proxy.UseSpanExporter), and programs that
// never export traces, such as the demo, build without them.
package otlpexport

import (
	"context"
	neturl "net/url"
	"strings"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// New returns the OTLP exporter for protocol "grpc" or "http/protobuf"
// (anything else). endpoint is a URL (a collector URL without a path gets
// the standard /v1/traces over HTTP) or host:port.
func New(ctx context.Context, protocol, endpoint string, headers map[string]string, insecure bool) (sdktrace.SpanExporter, error) {
	url := strings.Contains(endpoint, "://")
	if protocol == "grpc" {
		opts := []otlptracegrpc.Option{otlptracegrpc.WithHeaders(headers)}
		if url {
			opts = append(opts, otlptracegrpc.WithEndpointURL(endpoint))
		} else {
			opts = append(opts, otlptracegrpc.WithEndpoint(endpoint))
		}
		if insecure {
			opts = append(opts, otlptracegrpc.WithInsecure())
		}
		return otlptracegrpc.New(ctx, opts...)
	}
	opts := []otlptracehttp.Option{otlptracehttp.WithHeaders(headers)}
	if url {
		// A collector URL without a path means the collector's standard
		// traces path, not "/".
		ep := endpoint
		if u, err := neturl.Parse(ep); err == nil && (u.Path == "" || u.Path == "/") {
			u.Path = "/v1/traces"
			ep = u.String()
		}
		opts = append(opts, otlptracehttp.WithEndpointURL(ep))
	} else {
		opts = append(opts, otlptracehttp.WithEndpoint(endpoint))
	}
	if insecure {
		opts = append(opts, otlptracehttp.WithInsecure())
	}
	return otlptracehttp.New(ctx, opts...)
}
