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

// Readiness is the /readyz answer.
type Readiness struct {
	Ready          bool              `json:"ready"`
	PolicyRevision string            `json:"policy_revision"`
	PolicyMode     string            `json:"policy_mode"`
	Checks         map[string]string `json:"checks"`
}

// Readiness checks every stage: policies loaded, identity providers
// reachable, rate-limit store reachable, audit sinks writing.
func (g *Gateway) Readiness(ctx context.Context) Readiness {
	rep := Readiness{Ready: true, Checks: map[string]string{}}
	check := func(name string, err error) {
		if err != nil {
			rep.Ready = false
			rep.Checks[name] = err.Error()
			return
		}
		rep.Checks[name] = "ok"
	}
	rep.PolicyRevision = g.decider.Revision()
	rep.PolicyMode = g.decider.Mode()
	if rep.PolicyRevision == "" {
		check("policy", errNoPolicy)
	} else {
		check("policy", nil)
	}
	check("identity", g.auth.Ready(ctx))
	if g.limiter != nil {
		check("ratelimit", g.limiter.Ready(ctx))
	}
	if g.auditor != nil {
		check("audit", g.auditor.Ready())
	}
	if g.approvals != nil {
		check("approvals", g.approvals.Ready(ctx))
	}
	return rep
}

type constErr string

func (e constErr) Error() string { return string(e) }

const errNoPolicy = constErr("no policy loaded")
