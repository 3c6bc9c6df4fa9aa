package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.uber.org/zap"

	"github.com/crmgw/crmgw/approval"
	"github.com/crmgw/crmgw/audit"
	"github.com/crmgw/crmgw/config"
	"github.com/crmgw/crmgw/crm"
	"github.com/crmgw/crmgw/identity"
	"github.com/crmgw/crmgw/policy"
	"github.com/crmgw/crmgw/ratelimit"
)

// Server is a configured gateway with its two listeners.
type Server struct {
	cfg      *config.Config
	log      *zap.Logger
	Gateway  *Gateway
	Registry *prometheus.Registry

	engine  *policy.Engine
	auth    *identity.Authenticator
	alerts  *policy.Query
	limiter *ratelimit.Limiter
	auditor *audit.Auditor
	approvs *approval.Manager
	tracer  *sdktrace.TracerProvider // nil: tracing off (tracing.go)

	// What a reload replaces (reload.go).
	srvTLS  *identity.ServerTLS // nil without server.tls
	slots   []*credSlot         // one per upstream, in configuration order
	reloads configReloads

	proxySrv *http.Server
	adminSrv *http.Server
	proxyLn  net.Listener
	adminLn  net.Listener
}

// NewServer builds every stage from cfg. Nothing listens until Start.
func NewServer(ctx context.Context, cfg *config.Config, log *zap.Logger) (*Server, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s := &Server{cfg: cfg, log: log, Registry: reg}
	ok := false
	defer func() {
		if !ok {
			s.closeStages(context.Background())
		}
	}()

	auth, err := identity.NewAuthenticator(ctx, cfg.Identity, log.Named("identity"))
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	s.auth = auth
	s.engine, err = policy.New(ctx, cfg.Policy, log.Named("policy"))
	if err != nil {
		return nil, err
	}
	if cfg.Policy.DecisionLog != nil {
		registerDecisionLogMetrics(reg, s.engine)
	}
	s.limiter, err = ratelimit.New(cfg.Ratelimit, reg, log.Named("ratelimit"))
	if err != nil {
		return nil, fmt.Errorf("ratelimit: %w", err)
	}
	var rules audit.RuleEvaluator
	if cfg.Alerts.Rules != "" {
		s.alerts, err = policy.NewQuery(ctx, cfg.Policy.Paths, cfg.Alerts.Rules, log.Named("alerts"))
		if err != nil {
			return nil, fmt.Errorf("alerts: %w", err)
		}
		rules = s.alerts
	}
	s.auditor, err = audit.New(cfg.Audit, cfg.Alerts, rules, reg, log.Named("audit"))
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}

	g := &Gateway{
		log:        log,
		auth:       auth,
		decider:    s.engine,
		limiter:    s.limiter,
		auditor:    s.auditor,
		metrics:    newMetrics(reg),
		maxBody:    int64(cfg.Server.MaxRequestBody),
		hmacKey:    []byte(cfg.Masking.HMACKey),
		detectors:  cfg.Masking.Detectors,
		spoolDir:   cfg.Masking.SpoolDir,
		spoolLimit: int64(cfg.Masking.SpoolLimit),
	}
	g.hashQueries = cfg.Audit.QueryText == audit.QueryTextHash
	g.subjectsFailOpen = cfg.Ratelimit.OnStoreError == ratelimit.FailAllow
	admin, err := newAdminAuth(cfg.Admin)
	if err != nil {
		return nil, err
	}
	g.admin.Store(admin)
	g.protectMetrics = cfg.Admin.ProtectMetrics
	g.setAllowList(parseAllowList(cfg.Identity.AllowedCIDRs))
	if s.approvs, err = newApprovals(cfg, g); err != nil {
		return nil, fmt.Errorf("approvals: %w", err)
	}
	for _, uc := range cfg.Upstreams {
		u, slot, err := g.newUpstream(uc)
		if err != nil {
			return nil, fmt.Errorf("upstream %s: %w", uc.Name, err)
		}
		g.upstreams = append(g.upstreams, u)
		s.slots = append(s.slots, slot)
	}
	// After the upstreams: they read the concrete stages (tracing wraps them).
	if err := s.startTracing(ctx, g); err != nil {
		return nil, err
	}
	s.Gateway = g
	reg.MustRegister(g.HealthCollector(), newStatsCollector(s.engine))
	s.reloads.register(reg)
	ok = true
	return s, nil
}

func (g *Gateway) newUpstream(uc config.UpstreamConfig) (*upstream, *credSlot, error) {
	target, err := url.Parse(uc.URL)
	if err != nil {
		return nil, nil, err
	}
	t := uc.Timeouts
	base := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   t.Dial,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		TLSHandshakeTimeout:   t.TLSHandshake,
		ResponseHeaderTimeout: t.ResponseHeader,
		IdleConnTimeout:       t.IdleConn,
		ExpectContinueTimeout: time.Second,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   256,
		ForceAttemptHTTP2:     true,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
		// The masking stage reads CRM bodies in small pieces; with the
		// default 4 KiB connection buffer each piece would be a read system
		// call. 64 KiB lets one call take what the socket holds (in make
		// bench-load, system calls are otherwise a fifth of the gateway's CPU).
		ReadBufferSize:  64 << 10,
		WriteBufferSize: 64 << 10,
	}
	tokenClient := &http.Client{Transport: base, Timeout: 30 * time.Second}
	var prof *profileUpstream
	var creds identity.Credentials
	if uc.Type == "generic" {
		prof, creds, err = g.loadProfile(uc, tokenClient) // profile.go
	} else {
		creds, err = identity.NewCredentials(uc.Auth, uc.Type, tokenClient, g.log.Named("upstream-auth").With(zap.String("upstream", uc.Name)))
	}
	if err != nil {
		return nil, nil, err
	}
	// A reload may replace the credentials (reload.go).
	slot := &credSlot{cfg: uc, client: tokenClient, creds: identity.NewSwappableCredentials(creds), prof: prof}
	slot.fp = authFingerprint(uc, prof.current())
	u := &upstream{
		name:    uc.Name,
		typ:     uc.Type,
		target:  target,
		prefix:  uc.Match.PathPrefix,
		host:    uc.Match.Host,
		creds:   slot.creds,
		useInst: uc.Auth.UseInstanceURL,
		noGzip:  uc.Compression == "none",
		profile: prof,
	}
	transport := &credTransport{creds: slot.creds, base: base}
	opts := g.classifierOptions(uc, u, transport)
	if prof != nil {
		opts.Profile = prof.classifier
	}
	u.classifier, err = crm.NewClassifier(uc.Type, opts)
	if err != nil {
		return nil, nil, err
	}
	u.proxy = g.newReverseProxy(u, &tracedTransport{g: g, base: transport})
	return u, slot, nil
}

// Start opens both listeners and serves in the background.
func (s *Server) Start() error {
	sc := s.cfg.Server
	var err error
	s.proxyLn, err = net.Listen("tcp", sc.Listen)
	if err != nil {
		return fmt.Errorf("server.listen: %w", err)
	}
	s.adminLn, err = net.Listen("tcp", s.cfg.Admin.Listen)
	if err != nil {
		s.proxyLn.Close()
		return fmt.Errorf("admin.listen: %w", err)
	}
	errLog := zap.NewStdLog(s.log.Named("http"))
	s.proxySrv = &http.Server{
		Handler:           s.Gateway,
		ReadHeaderTimeout: sc.ReadHeaderTimeout,
		ReadTimeout:       sc.ReadTimeout,
		WriteTimeout:      sc.WriteTimeout,
		IdleTimeout:       sc.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          errLog,
	}
	if t := sc.TLS; t != nil {
		// Reloadable: new handshakes get the certificate in force (reload.go).
		st, err := identity.NewServerTLS(t.CertFile, t.KeyFile, t.ClientCAFile)
		if err != nil {
			s.proxyLn.Close()
			s.adminLn.Close()
			return fmt.Errorf("server.tls: %w", err)
		}
		s.srvTLS = st
		s.proxySrv.TLSConfig = st.Config()
		s.proxyLn = tls.NewListener(s.proxyLn, st.Config())
	}
	if s.cfg.Approvals.URLBase == "" {
		s.Gateway.approvalBase.Store("http://" + s.AdminAddr())
	}
	s.adminSrv = &http.Server{
		Handler:           s.Gateway.withApprovalsAdmin(s.Gateway.AdminHandler(s.Registry)),
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          errLog,
	}
	go func() {
		if err := s.proxySrv.Serve(s.proxyLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("proxy listener stopped", zap.Error(err))
		}
	}()
	go func() {
		if err := s.adminSrv.Serve(s.adminLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("admin listener stopped", zap.Error(err))
		}
	}()
	for _, w := range s.cfg.Warnings() {
		s.log.Warn("configuration: "+w.Msg, zap.String("key", w.Key), zap.Int("line", w.Line))
	}
	s.log.Info("crmgw listening",
		zap.String("proxy", s.ProxyAddr()), zap.String("admin", s.AdminAddr()),
		zap.String("policy_revision", s.engine.Revision()), zap.String("policy_mode", s.engine.Mode()))
	return nil
}

// ProxyAddr is the proxy listener's address (useful with port 0).
func (s *Server) ProxyAddr() string { return s.proxyLn.Addr().String() }

// AdminAddr is the admin listener's address.
func (s *Server) AdminAddr() string { return s.adminLn.Addr().String() }

// Shutdown stops accepting, lets in-flight requests finish (bounded by
// server.shutdown_timeout), then flushes the audit trail.
func (s *Server) Shutdown(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Server.ShutdownTimeout)
	defer cancel()
	var errs []error
	if s.proxySrv != nil {
		if err := s.proxySrv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("proxy listener: %w", err))
		}
	}
	if s.adminSrv != nil {
		_ = s.adminSrv.Shutdown(ctx)
	}
	errs = append(errs, s.closeStages(ctx))
	return errors.Join(errs...)
}

func (s *Server) closeStages(ctx context.Context) error {
	var errs []error
	if s.auditor != nil {
		errs = append(errs, s.auditor.Close(ctx))
	}
	if s.limiter != nil {
		errs = append(errs, s.limiter.Close())
	}
	if s.engine != nil {
		errs = append(errs, s.engine.Close())
	}
	if s.alerts != nil {
		errs = append(errs, s.alerts.Close())
	}
	if s.approvs != nil {
		errs = append(errs, s.approvs.Close())
	}
	errs = append(errs, s.stopTracing(ctx))
	return errors.Join(errs...)
}
