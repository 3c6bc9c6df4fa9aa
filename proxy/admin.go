package proxy

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// AdminHandler serves /healthz, /readyz and /metrics. It is mounted on the
// admin listener only, never on the proxy listener. The probes are open;
// every other endpoint goes through requireAdmin (admin_auth.go), /metrics
// when admin.protect_metrics is set.
func (g *Gateway) AdminHandler(gatherer prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("verbose") {
			// Always 200 (liveness); the details say what is degraded,
			// without the checks that wait on the network.
			rep := g.readiness(nil)
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"alive": true, "ready": rep.Ready, "degraded": rep.Degraded})
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		rep := g.Readiness(ctx)
		w.Header().Set("Content-Type", "application/json")
		if !rep.Ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(rep)
	})
	var metrics http.Handler = promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{})
	if g.protectMetrics {
		metrics = g.requireAdmin(metrics) // admin_auth.go
	}
	mux.Handle("GET /metrics", metrics)
	return mux
}

// Readiness is the /readyz answer. Ready is false (503) only when this
// replica cannot serve safely: no policy loaded, or the local audit log
// cannot be written. What every replica shares (the IdP, Redis, the SIEM)
// being down, or a refused policy reload, is reported in Degraded and in
// metrics, never as 503: taking every replica out of the load balancer
// for a shared outage helps no one, and the configured fail modes decide
// what each request gets meanwhile (docs/audit.md "Readiness").
type Readiness struct {
	Ready          bool              `json:"ready"`
	PolicyRevision string            `json:"policy_revision"`
	PolicyMode     string            `json:"policy_mode"`
	Checks         map[string]string `json:"checks"`
	Degraded       map[string]string `json:"degraded,omitempty"`
}

// Readiness checks every stage.
func (g *Gateway) Readiness(ctx context.Context) Readiness {
	return g.readiness(ctx)
}

// readiness with a nil ctx skips the checks that do I/O (a metrics
// scrape must not wait on Redis or the IdP): they are then left out.
func (g *Gateway) readiness(ctx context.Context) Readiness {
	rep := Readiness{Ready: true, Checks: map[string]string{}}
	check := func(name string, err error) {
		if err != nil {
			rep.Ready = false
			rep.Checks[name] = err.Error()
			return
		}
		rep.Checks[name] = "ok"
	}
	degraded := func(name string, err error) {
		if err == nil {
			rep.Checks[name] = "ok"
			return
		}
		rep.Checks[name] = "degraded"
		if rep.Degraded == nil {
			rep.Degraded = map[string]string{}
		}
		rep.Degraded[name] = err.Error()
	}
	rep.PolicyRevision = g.decider.Revision()
	rep.PolicyMode = g.decider.Mode()
	if rep.PolicyRevision == "" {
		check("policy", errNoPolicy)
	} else {
		check("policy", nil)
	}
	if r := g.reloadDegraded(); r != "" {
		degraded("policy_reload", constErr(r))
	}
	if r := g.configReloadDegraded(); r != "" {
		degraded("config_reload", constErr(r))
	}
	if ctx != nil {
		degraded("identity", g.auth.Ready(ctx))
		if g.limiter != nil {
			degraded("ratelimit", g.limiter.Ready(ctx))
		}
	}
	if g.auditor != nil {
		check("audit", g.auditor.Ready())
		if d, ok := g.auditor.(interface{ Degraded() map[string]string }); ok {
			for k, v := range d.Degraded() {
				degraded(k, constErr(v))
			}
		}
	}
	if g.approvals != nil && ctx != nil {
		// The store of freezes and approvals is the rate limiter's: its
		// outage is the same degraded state (checkSubject follows
		// ratelimit.on_store_error), not a reason to leave the fleet.
		degraded("approvals", g.approvals.Ready(ctx))
	}
	return rep
}

type constErr string

func (e constErr) Error() string { return string(e) }

const errNoPolicy = constErr("no policy loaded")
