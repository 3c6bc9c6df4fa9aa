package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/crmgw/crmgw/config"
	"github.com/crmgw/crmgw/examples/samplecrm"
	"github.com/crmgw/crmgw/internal/otlpexport"
)

// The tests export as the product binary does (cmd/crmgw/tracing.go).
func init() { UseSpanExporter(otlpexport.New) }

// A program built without an exporter (the demo) refuses tracing.endpoint
// with a clear error instead of tracing nowhere. Not parallel: it swaps
// the package's exporter while no other test runs.
func TestTracingEndpointWithoutAnExporterIsRefused(t *testing.T) {
	saved := spanExporter
	UseSpanExporter(nil)
	defer UseSpanExporter(saved)
	_, err := newTracerProvider(t.Context(), config.TracingConfig{Endpoint: "http://127.0.0.1:4318", Protocol: "http/protobuf"})
	if err == nil || !strings.Contains(err.Error(), "without an OTLP exporter") {
		t.Fatalf("tracing.endpoint without an exporter: %v, want a clear refusal", err)
	}
	tp, err := newTracerProvider(t.Context(), config.TracingConfig{})
	if err != nil || tp != nil {
		t.Fatalf("tracing off without an exporter: %v %v, want nothing and no error", tp, err)
	}
}

// tracedEnv is the end-to-end harness with tracing on, spans going to an
// in-memory exporter, and the sample CRM remembering the traceparent of
// every request it receives.
type tracedEnv struct {
	*env
	spans *tracetest.InMemoryExporter
	mu    sync.Mutex
	seen  []string // traceparent headers the CRM received
}

func newTracedEnv(t *testing.T) *tracedEnv {
	te := &tracedEnv{spans: tracetest.NewInMemoryExporter()}
	te.env = newEnv(t, envOptions{crmOpts: func(o *samplecrm.Options) {
		o.OnRequest = func(r *http.Request) {
			te.mu.Lock()
			te.seen = append(te.seen, r.Header.Get("Traceparent"))
			te.mu.Unlock()
		}
	}})
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(te.spans))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })
	te.srv.Gateway.enableTracing(tp)
	return te
}

func (te *tracedEnv) crmTraceparents() []string {
	te.mu.Lock()
	defer te.mu.Unlock()
	return append([]string(nil), te.seen...)
}

const (
	callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	callerSpan  = "00f067aa0ba902b7"
)

func TestTraceparentContinuesTheCallersTrace(t *testing.T) {
	te := newTracedEnv(t)
	resp := te.do("GET", "/services/data/v60.0/query?q=SELECT+Id,Email+FROM+Contact+LIMIT+5", bearer(repKey), nil,
		"Traceparent", "00-"+callerTrace+"-"+callerSpan+"-01")
	body := readAll(t, resp)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	evs := te.auditEvents(1)
	if len(evs) != 1 {
		t.Fatalf("want 1 audit event, got %d", len(evs))
	}

	spans := te.spans.GetSpans()
	byName := map[string]tracetest.SpanStub{}
	for _, s := range spans {
		if got := s.SpanContext.TraceID().String(); got != callerTrace {
			t.Errorf("span %s is in trace %s, not the caller's %s", s.Name, got, callerTrace)
		}
		byName[s.Name] = s
	}
	for _, name := range []string{"crmgw.request", "identify", "classify", "ratelimit", "decide", "upstream", "mask"} {
		if _, ok := byName[name]; !ok {
			t.Errorf("no %q span; got %d spans", name, len(spans))
		}
	}
	root := byName["crmgw.request"]
	if got := root.Parent.SpanID().String(); got != callerSpan || !root.Parent.IsRemote() {
		t.Errorf("request span's parent = %s (remote %v), want the caller's span %s", got, root.Parent.IsRemote(), callerSpan)
	}
	for _, name := range []string{"identify", "classify", "ratelimit", "decide", "upstream", "mask"} {
		if s, ok := byName[name]; ok && s.Parent.SpanID() != root.SpanContext.SpanID() {
			t.Errorf("%s span's parent is %s, want the request span %s", name, s.Parent.SpanID(), root.SpanContext.SpanID())
		}
	}

	// The CRM receives a child traceparent: the caller's trace, the
	// gateway's upstream span as parent, sampled.
	up := byName["upstream"]
	want := "00-" + callerTrace + "-" + up.SpanContext.SpanID().String() + "-01"
	if got := te.crmTraceparents(); len(got) != 1 || got[0] != want {
		t.Errorf("CRM received traceparent %q, want %q", got, want)
	}

	// The audit event names the trace and the request span.
	if got := get(evs[0], "trace_id"); got != callerTrace {
		t.Errorf("audit trace_id = %v, want %s", got, callerTrace)
	}
	if got := get(evs[0], "span_id"); got != root.SpanContext.SpanID().String() {
		t.Errorf("audit span_id = %v, want %s", got, root.SpanContext.SpanID())
	}
}

// A malformed traceparent is not continued and never reaches the CRM: the
// request starts a trace of its own.
func TestInvalidTraceparentStartsANewTrace(t *testing.T) {
	te := newTracedEnv(t)
	for i, tp := range []string{
		"00-00000000000000000000000000000000-" + callerSpan + "-01",                // zero trace id
		"00-" + callerTrace + "-0000000000000000-01",                               // zero parent id
		"ff-" + callerTrace + "-" + callerSpan + "-01",                             // forbidden version
		"00-" + strings.ToUpper(callerTrace) + "-" + callerSpan + "-01",            // upper-case hex
		"00-" + callerTrace + "-" + callerSpan + "-01\r\nX-Injected: 1",            // header injection attempt
		"00-" + callerTrace + "zz-" + callerSpan + "-01",                           // not hex, too long
		"00-" + callerTrace + "-" + callerSpan + "-01-" + strings.Repeat("a", 300), // version 00 with extra fields
	} {
		te.spans.Reset()
		req, err := http.NewRequest("GET", te.base+"/services/data/v60.0/query?q=SELECT+Id+FROM+Contact+LIMIT+1", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", bearer(repKey))
		req.Header["Traceparent"] = []string{tp}
		resp, err := te.client.Do(req)
		if err != nil {
			// net/http refuses to send a header with CR/LF: nothing to test.
			continue
		}
		body := readAll(t, resp)
		if resp.StatusCode != 200 {
			t.Fatalf("case %d: status %d: %s", i, resp.StatusCode, body)
		}
		var root tracetest.SpanStub
		for _, s := range te.spans.GetSpans() {
			if s.Name == "crmgw.request" {
				root = s
			}
		}
		if root.Name == "" {
			t.Fatalf("case %d: no request span", i)
		}
		if root.SpanContext.TraceID().String() == callerTrace || root.Parent.IsValid() {
			t.Errorf("case %d (%q): the invalid traceparent was continued", i, tp)
		}
		seen := te.crmTraceparents()
		last := seen[len(seen)-1]
		if last == tp || !strings.HasPrefix(last, "00-"+root.SpanContext.TraceID().String()+"-") {
			t.Errorf("case %d: CRM received %q, want the gateway's new trace %s", i, last, root.SpanContext.TraceID())
		}
	}
}

func TestRequestIDFromCallerIsValidated(t *testing.T) {
	e := newEnv(t, envOptions{})
	long := strings.Repeat("a", maxRequestIDLen)
	for _, tc := range []struct {
		name, sent string
		kept       bool
	}{
		{"a printable id is kept", "req-42.abc:DEF_9", true},
		{"128 characters are kept", long, true},
		{"129 characters are replaced", long + "b", false},
		{"a space is replaced", "req 42", false},
		{"a tab is replaced", "req\t42", false},
		{"non-ASCII is replaced", "req-\u00e9", false},
		{"a quote and brace are kept (escaped in bodies)", `a"}{b`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := e.do("GET", "/services/data/v60.0/sobjects/Opportunity/006000000000001", "", nil, "X-Request-Id", tc.sent)
			body := string(readAll(t, resp))
			got := resp.Header.Get("X-Request-Id")
			if tc.kept && got != tc.sent {
				t.Errorf("X-Request-Id %q came back as %q", tc.sent, got)
			}
			if !tc.kept && (got == tc.sent || len(got) != 26) {
				t.Errorf("X-Request-Id %q came back as %q, want a new ULID", tc.sent, got)
			}
			if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "CRMGW_UNAUTHENTICATED") {
				t.Errorf("status %d body %s", resp.StatusCode, body)
			}
		})
	}
}

// With tracing off (the default) no span is made and the audit event has
// no trace fields.
func TestTracingOffLeavesNoTraceInTheAudit(t *testing.T) {
	e := newEnv(t, envOptions{})
	if e.srv.Gateway.tracing != nil {
		t.Fatal("tracing is on without tracing.endpoint")
	}
	resp := e.do("GET", "/services/data/v60.0/query?q=SELECT+Id+FROM+Contact+LIMIT+1", bearer(repKey), nil,
		"Traceparent", "00-"+callerTrace+"-"+callerSpan+"-01")
	readAll(t, resp)
	evs := e.auditEvents(1)
	if len(evs) != 1 {
		t.Fatalf("want 1 event, got %d", len(evs))
	}
	if _, ok := evs[0]["trace_id"]; ok {
		t.Errorf("audit event has a trace_id with tracing off: %v", evs[0]["trace_id"])
	}
}

// TestTracingExportsOTLP configures tracing: as an operator would, with a
// real OTLP/HTTP receiver on loopback, and checks that the spans arrive,
// protobuf-encoded, under the configured service name, with the collector
// header the configuration names.
func TestTracingExportsOTLP(t *testing.T) {
	var (
		mu    sync.Mutex
		names []string
		svc   string
		auth  string
	)
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var req coltracepb.ExportTraceServiceRequest
		if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" || proto.Unmarshal(b, &req) != nil {
			http.Error(w, "bad export", http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		auth = r.Header.Get("X-Collector-Key")
		for _, rs := range req.ResourceSpans {
			for _, kv := range rs.GetResource().GetAttributes() {
				if kv.Key == "service.name" {
					svc = kv.GetValue().GetStringValue()
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					names = append(names, s.Name)
				}
			}
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer collector.Close()
	e := newEnv(t, envOptions{extraYAML: "tracing:\n  endpoint: " + collector.URL +
		"\n  insecure: true\n  service_name: crmgw-test\n  headers: {X-Collector-Key: k-123}\n"})
	if e.srv.Gateway.tracing == nil {
		t.Fatal("tracing.endpoint set but tracing is off")
	}
	resp := e.do("GET", "/services/data/v60.0/query?q=SELECT+Id+FROM+Contact+LIMIT+1", bearer(repKey), nil)
	readAll(t, resp)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	// Shutdown flushes the batch.
	if err := e.srv.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if svc != "crmgw-test" || auth != "k-123" {
		t.Errorf("service.name %q, collector header %q", svc, auth)
	}
	got := strings.Join(names, ",")
	for _, want := range []string{"crmgw.request", "identify", "decide", "upstream"} {
		if !strings.Contains(got, want) {
			t.Errorf("exported spans %s lack %s", got, want)
		}
	}
}

// FuzzRequestID: whatever a caller sends as X-Request-Id, the id the
// gateway uses is 1 to 128 printable ASCII bytes without spaces, and is the
// caller's exactly when that holds of it.
func FuzzRequestID(f *testing.F) {
	for _, s := range []string{"", "req-1", "a b", "\x00", strings.Repeat("x", 129), "é", `"}{`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header["X-Request-Id"] = []string{s}
		id := requestID(r)
		if !validRequestID(id) {
			t.Fatalf("id %q is not safe to echo", id)
		}
		if (id == s) != validRequestID(s) {
			t.Fatalf("sent %q (valid %v), got %q", s, validRequestID(s), id)
		}
		for i := 0; i < len(id); i++ {
			if id[i] <= ' ' || id[i] > '~' {
				t.Fatalf("byte %#x in id %q", id[i], id)
			}
		}
	})
}
