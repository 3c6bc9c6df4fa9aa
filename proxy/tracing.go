package proxy

import (
	"context"
	"fmt"
	"net/http"

	"github.com/oklog/ulid/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/crmgw/crmgw/config"
	"github.com/crmgw/crmgw/identity"
	"github.com/crmgw/crmgw/internal/buildinfo"
	"github.com/crmgw/crmgw/policy"
	"github.com/crmgw/crmgw/ratelimit"
)

// Tracing (docs/tracing.md): with tracing.endpoint set, every request is a
// server span, continuing the caller's W3C traceparent when it sends a valid
// one, with a child span per stage (identify, classify, ratelimit, decide,
// upstream, mask); the CRM receives a traceparent naming the upstream span,
// and the audit event carries the trace and span ids. With tracing off the
// request path only tests one nil pointer per stage.
//
// Ways a caller could abuse the trace headers, and what stops them:
//   - a malformed or oversized traceparent/tracestate: the W3C propagator
//     validates the format (version, lengths, hex, non-zero ids) and an
//     invalid one starts a new trace; the caller's header is never forwarded
//     as is while tracing is on (the CRM gets the gateway's own).
//   - a traceparent with the sampled flag set on every request, to make the
//     gateway export everything: sampling follows the caller's flag (that is
//     what joining traces means), so tracing.sample_ratio bounds only new
//     traces; the exporter's batch queue is bounded and drops, never blocks.
//   - an X-Request-Id crafted to inject into logs or the CRM's error body:
//     only printable ASCII without spaces, at most 128 bytes, is kept; else a
//     new ULID.
//   - an X-Request-Id reused to blur the audit trail: the audit chain's seq
//     is the gateway's own and unique, and the event keeps the trace id; the
//     request id is a correlation aid, not an identity.

const maxRequestIDLen = 128

// requestID is the caller's X-Request-Id when it is safe to echo (printable
// ASCII, no space, at most 128 bytes), else a new ULID.
func requestID(r *http.Request) string {
	v := r.Header["X-Request-Id"]
	if len(v) != 1 || !validRequestID(v[0]) {
		return ulid.Make().String()
	}
	return v[0]
}

func validRequestID(s string) bool {
	if s == "" || len(s) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// tracing is the gateway's tracer and propagator; a nil *tracing is off.
type tracing struct {
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
}

// traceState is the tracing part of an exchange.
type traceState struct {
	span trace.Span // the request's server span
	mask trace.Span // open while the response body streams through masking
}

// SpanExporterFunc builds the exporter of tracing.endpoint for protocol
// "grpc" or "http/protobuf" (internal/otlpexport.New).
type SpanExporterFunc func(ctx context.Context, protocol, endpoint string, headers map[string]string, insecure bool) (sdktrace.SpanExporter, error)

// spanExporter is the exporter constructor the binary provides; nil: this
// binary cannot export traces.
var spanExporter SpanExporterFunc

// UseSpanExporter gives the proxy the OTLP exporter's constructor. The
// product binary calls it before serving (cmd/crmgw); a program without it
// (the demo) does not link the exporters, and refuses tracing.endpoint.
func UseSpanExporter(f SpanExporterFunc) { spanExporter = f }

// newTracerProvider builds the OTLP exporter and the SDK provider from
// configuration; nil when tracing is off.
func newTracerProvider(ctx context.Context, c config.TracingConfig) (*sdktrace.TracerProvider, error) {
	if !c.Enabled() {
		return nil, nil
	}
	if spanExporter == nil {
		return nil, fmt.Errorf("tracing: tracing.endpoint is set, but this program was built without an OTLP exporter (crmgw serve has one)")
	}
	exp, err := spanExporter(ctx, c.Protocol, c.Endpoint, c.Headers, c.Insecure)
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	ratio := 1.0
	if c.SampleRatio != nil {
		ratio = *c.SampleRatio
	}
	res := resource.NewSchemaless(semconv.ServiceName(c.ServiceName), semconv.ServiceVersion(buildinfo.Version()))
	return sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))),
	), nil
}

// enableTracing turns tracing on with tp: the request and stage spans, and
// the stage decorators around the authenticator, policy and limiter. Call
// it before the gateway serves, and after anything that reads a stage's
// concrete type (a type assertion on g.limiter sees the decorator once
// tracing is on; the decorator passes InMemory through).
func (g *Gateway) enableTracing(tp trace.TracerProvider) {
	if tp == nil {
		return
	}
	t := &tracing{tracer: tp.Tracer("github.com/crmgw/crmgw/proxy"), prop: propagation.TraceContext{}}
	g.tracing = t
	g.auth = &tracedAuthenticator{Authenticator: g.auth, t: t}
	g.decider = &tracedDecider{Decider: g.decider, t: t}
	if g.limiter != nil {
		g.limiter = &tracedLimiter{Limiter: g.limiter, t: t}
	}
}

// startTrace opens the request's server span, continuing a valid incoming
// traceparent, and returns the request carrying it.
func (g *Gateway) startTrace(r *http.Request, x *exchange) *http.Request {
	t := g.tracing
	if t == nil {
		return r
	}
	ctx := t.prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	ctx, span := t.tracer.Start(ctx, "crmgw.request", trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(
			attribute.String("http.request.method", r.Method),
			attribute.String("crmgw.request_id", x.id),
		))
	x.trace.span = span
	return r.WithContext(ctx)
}

// stageSpan opens a child span for one stage; end closes it.
func (g *Gateway) stageSpan(ctx context.Context, name string) (context.Context, func()) {
	if g.tracing == nil {
		return ctx, noEnd
	}
	ctx, span := g.tracing.tracer.Start(ctx, name)
	return ctx, func() { span.End() }
}

func noEnd() {}

// traceMask opens the mask span when the response body starts streaming
// through the masking stage; endTrace closes it.
func (g *Gateway) traceMask(ctx context.Context, x *exchange) {
	if g.tracing == nil {
		return
	}
	// ctx is the upstream round trip's; the mask span belongs to the request.
	_, x.trace.mask = g.tracing.tracer.Start(trace.ContextWithSpan(ctx, x.trace.span), "mask")
}

// endTrace closes the open spans of an exchange with its outcome.
func (g *Gateway) endTrace(x *exchange, status int, records int) {
	if x.trace.span == nil {
		return
	}
	if m := x.trace.mask; m != nil {
		m.SetAttributes(attribute.Int("crmgw.records", records))
		m.End()
	}
	s := x.trace.span
	attrs := []attribute.KeyValue{
		attribute.Int("http.response.status_code", status),
		attribute.String("crmgw.outcome", x.outcome),
	}
	if x.up != nil {
		attrs = append(attrs, attribute.String("crmgw.upstream", x.up.name))
	}
	if op := x.result.Action.Operation; op != "" {
		attrs = append(attrs, attribute.String("crmgw.operation", string(op)),
			attribute.String("crmgw.category", string(x.result.Action.Category)))
	}
	s.SetAttributes(attrs...)
	if status >= 500 {
		s.SetStatus(codes.Error, x.outcome)
	}
	s.End()
}

// traceIDs are the audit event's trace_id and span_id.
func (x *exchange) traceIDs() (traceID, spanID string) {
	if x.trace.span == nil {
		return "", ""
	}
	sc := x.trace.span.SpanContext()
	if !sc.IsValid() {
		return "", ""
	}
	return sc.TraceID().String(), sc.SpanID().String()
}

// tracedTransport makes the upstream span and sends the CRM a traceparent
// naming it, in place of whatever the caller sent.
type tracedTransport struct {
	g    *Gateway
	base http.RoundTripper
}

func (t *tracedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	tr := t.g.tracing
	if tr == nil {
		return t.base.RoundTrip(req)
	}
	ctx, span := tr.tracer.Start(req.Context(), "upstream", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("http.request.method", req.Method), attribute.String("server.address", req.URL.Host)))
	defer span.End()
	req = req.WithContext(ctx)
	req.Header.Del("Traceparent")
	req.Header.Del("Tracestate")
	tr.prop.Inject(ctx, propagation.HeaderCarrier(req.Header))
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		span.SetStatus(codes.Error, "upstream round trip failed")
		return resp, err
	}
	span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
	if resp.StatusCode >= 500 {
		span.SetStatus(codes.Error, "upstream error status")
	}
	return resp, nil
}

// The stage decorators: each embeds the stage's interface (so a method
// added to it passes through) and spans the call that does the stage's work.

type tracedAuthenticator struct {
	Authenticator
	t *tracing
}

func (a *tracedAuthenticator) Authenticate(r *http.Request) (*identity.Subject, error) {
	ctx, span := a.t.tracer.Start(r.Context(), "identify")
	defer span.End()
	s, err := a.Authenticator.Authenticate(r.WithContext(ctx))
	if err != nil {
		span.SetStatus(codes.Error, "caller not authenticated")
	} else if s != nil {
		span.SetAttributes(attribute.String("crmgw.subject.kind", s.Kind))
	}
	return s, err
}

type tracedDecider struct {
	Decider
	t *tracing
}

func (d *tracedDecider) Decide(ctx context.Context, in *policy.Input) (policy.Decision, error) {
	ctx, span := d.t.tracer.Start(ctx, "decide")
	defer span.End()
	dec, err := d.Decider.Decide(ctx, in)
	span.SetAttributes(attribute.Bool("crmgw.allow", dec.Allow && err == nil))
	if err != nil {
		span.SetStatus(codes.Error, "policy evaluation failed")
	}
	return dec, err
}

type tracedLimiter struct {
	Limiter
	t *tracing
}

func (l *tracedLimiter) Allow(ctx context.Context, req ratelimit.Request) (ratelimit.Result, error) {
	ctx, span := l.t.tracer.Start(ctx, "ratelimit")
	defer span.End()
	res, err := l.Limiter.Allow(ctx, req)
	span.SetAttributes(attribute.Bool("crmgw.allowed", res.Allowed))
	if err != nil {
		span.SetStatus(codes.Error, "rate limit store error")
	}
	return res, err
}

// InMemory passes the memory store's answer through (complete uses it to
// bound quota accounting).
func (l *tracedLimiter) InMemory() bool {
	m, ok := l.Limiter.(interface{ InMemory() bool })
	return ok && m.InMemory()
}

var (
	_ Authenticator     = (*tracedAuthenticator)(nil)
	_ Decider           = (*tracedDecider)(nil)
	_ Limiter           = (*tracedLimiter)(nil)
	_ http.RoundTripper = (*tracedTransport)(nil)
)

// startTracing builds the tracer provider from tracing: and turns tracing
// on in g; nothing when the section is off.
func (s *Server) startTracing(ctx context.Context, g *Gateway) error {
	tp, err := newTracerProvider(ctx, s.cfg.Tracing)
	if err != nil || tp == nil {
		return err
	}
	s.tracer = tp
	g.enableTracing(tp)
	return nil
}

// stopTracing flushes the spans still queued and stops the exporter.
func (s *Server) stopTracing(ctx context.Context) error {
	if s.tracer == nil {
		return nil
	}
	if err := s.tracer.Shutdown(ctx); err != nil {
		return fmt.Errorf("tracing: %w", err)
	}
	return nil
}
