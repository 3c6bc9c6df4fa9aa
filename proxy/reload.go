package proxy

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"reflect"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/crmgw/crmgw/config"
	"github.com/crmgw/crmgw/crm/profile"
	"github.com/crmgw/crmgw/identity"
	"github.com/crmgw/crmgw/internal/confkey"
	"github.com/crmgw/crmgw/ratelimit"
)

// Reload (SIGHUP, docs/deploy.md "Reload") reads the configuration file
// again with the loader `crmgw serve` and `crmgw validate` use, builds
// every part that can change while serving, and only when all of them
// built swaps them in, each with one atomic store; the request path reads
// each part once per request and never waits for a reload.
//
// What a reload replaces: the identity section (API keys, allow-lists,
// trusted proxies, mTLS clients, OIDC issuers), the admin token
// (admin.token, or admin.token_file read again), the rate limits, quotas,
// reserve_max and pre-authentication limits, each upstream's auth
// (credentials, client secrets, the *_file secrets and key files, read
// again), the listener's certificate, key and client CAs (for new
// connections), the policies, alert rules and CRM profiles (as before).
// Anything else that differs from the running configuration keeps its
// running value and is named in one "restart needed" log line and the
// crmgw_config_restart_needed gauge; the rest is applied.

// configReloads serialises reloads and counts their outcomes.
type configReloads struct {
	mu      sync.Mutex
	total   *prometheus.CounterVec // crmgw_config_reloads_total{result="ok|refused"}
	restart prometheus.Gauge       // crmgw_config_restart_needed
}

func (c *configReloads) register(reg prometheus.Registerer) {
	c.total = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "crmgw_config_reloads_total",
		Help: "Configuration reloads (SIGHUP) by result: ok (applied), refused (the running configuration stays).",
	}, []string{"result"})
	c.restart = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "crmgw_config_restart_needed",
		Help: "1 when the last applied reload left settings that only a restart applies (named in the log).",
	})
	c.total.WithLabelValues("ok")
	c.total.WithLabelValues("refused")
	reg.MustRegister(c.total, c.restart)
}

// credSlot is what a reload needs to replace one upstream's credentials.
type credSlot struct {
	cfg    config.UpstreamConfig // as the upstream was built
	fp     [32]byte              // authFingerprint of the credentials in force
	client *http.Client          // the token requests' client
	creds  *identity.SwappableCredentials
	prof   *profileUpstream // generic upstreams
}

// Reload reloads the configuration file the server was started with. When
// anything in it is wrong, nothing is changed, the error names every
// problem (file:line: key: message for the configuration itself) and it is
// logged; the outcome is counted in crmgw_config_reloads_total.
func (s *Server) Reload(ctx context.Context) error {
	s.reloads.mu.Lock()
	defer s.reloads.mu.Unlock()
	restart, err := s.reload(ctx)
	if err != nil {
		s.reloads.total.WithLabelValues("refused").Inc()
		problems := make([]string, 0, 4)
		for _, e := range confkey.Flatten(err) {
			problems = append(problems, e.Error())
		}
		s.Gateway.noteConfigReload(len(problems))
		s.log.Error("configuration reload refused; the running configuration stays: "+strings.Join(problems, "; "),
			zap.String("config", s.cfg.Path()), zap.Strings("problems", problems))
		return err
	}
	s.reloads.total.WithLabelValues("ok").Inc()
	s.Gateway.noteConfigReload(0)
	if len(restart) > 0 {
		s.reloads.restart.Set(1)
		s.log.Warn("configuration reloaded; restart needed for: "+strings.Join(restart, ", ")+" (their running values stay)",
			zap.String("config", s.cfg.Path()), zap.Strings("restart_needed", restart))
	} else {
		s.reloads.restart.Set(0)
		s.log.Info("configuration reloaded", zap.String("config", s.cfg.Path()))
	}
	return nil
}

// reload prepares everything, then installs it; it returns the settings
// that need a restart.
func (s *Server) reload(ctx context.Context) ([]string, error) {
	cfg, err := config.Load(s.cfg.Path())
	if err != nil {
		return nil, err
	}
	restart := restartKeys(s.cfg, cfg)
	installAuth, err := s.auth.Prepare(ctx, cfg.Identity)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	allow := parseAllowList(cfg.Identity.AllowedCIDRs)
	admin, err := newAdminAuth(cfg.Admin)
	if err != nil {
		return nil, err
	}
	installs := []func(){installAuth, func() { s.Gateway.setAllowList(allow) }, func() { s.Gateway.admin.Store(admin) }}
	if s.limiter != nil {
		install, err := s.limiter.Prepare(cfg.Ratelimit)
		if err != nil {
			return nil, fmt.Errorf("ratelimit: %w", err)
		}
		installs = append(installs, install)
	}
	if t := cfg.Server.TLS; t != nil && s.srvTLS != nil {
		install, err := s.srvTLS.Prepare(t.CertFile, t.KeyFile, t.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("server.tls: %w", err)
		}
		installs = append(installs, install)
	}
	installProfiles, profiles, err := s.Gateway.prepareProfiles()
	if err != nil {
		s.Gateway.NoteReload(err)
		return nil, err
	}
	installs = append(installs, installProfiles)
	credInstalls, err := s.prepareCredentials(cfg, profiles)
	if err != nil {
		return nil, err
	}
	installs = append(installs, credInstalls...)

	// Last of what can fail: the policies swap themselves when they
	// compile, so nothing above has been installed if they do not.
	err = s.engine.Reload(ctx)
	s.Gateway.NoteReload(err)
	if err != nil {
		return nil, err
	}
	if s.alerts != nil {
		if err := s.alerts.Reload(ctx); err != nil {
			return nil, fmt.Errorf("alerts.rules (the policies were reloaded, nothing else): %w", err)
		}
	}
	for _, install := range installs {
		install()
	}
	return restart, nil
}

// prepareCredentials builds new credentials for each upstream whose auth
// changed (its settings, the secret and key files it names, or, for a
// generic upstream, its profile's credential section). An upstream whose
// other settings changed keeps its credentials too: restartKeys names it,
// and new credentials must not go to a CRM address that is not theirs.
func (s *Server) prepareCredentials(cfg *config.Config, profiles map[string]*profile.Profile) ([]func(), error) {
	byName := map[string]config.UpstreamConfig{}
	for _, uc := range cfg.Upstreams {
		byName[uc.Name] = uc
	}
	var installs []func()
	var errs []error
	for _, slot := range s.slots {
		uc, ok := byName[slot.cfg.Name]
		if !ok || !sameUpstreamButAuth(slot.cfg, uc) {
			continue
		}
		var p *profile.Profile
		if slot.prof != nil {
			p = profiles[uc.Name]
		}
		fp := authFingerprint(uc, p)
		if fp == slot.fp {
			continue // unchanged: the token in hand stays in use
		}
		log := s.log.Named("upstream-auth").With(zap.String("upstream", uc.Name))
		var creds identity.Credentials
		var err error
		if p != nil {
			creds, err = identity.NewProfileCredentials(uc.Auth, credentialSpec(p, uc.URL), slot.client, log)
		} else {
			creds, err = identity.NewCredentials(uc.Auth, uc.Type, slot.client, log)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("upstreams[%s].auth: %w", uc.Name, err))
			continue
		}
		installs = append(installs, func() {
			slot.creds.Swap(creds)
			slot.fp = fp
			log.Info("upstream credentials replaced")
		})
	}
	return installs, errors.Join(errs...)
}

// sameUpstreamButAuth reports whether a and b differ at most in what a
// reload applies: their auth, but for use_instance_url, which the
// upstream's routing reads.
func sameUpstreamButAuth(a, b config.UpstreamConfig) bool {
	ua, ub := a.Auth.UseInstanceURL, b.Auth.UseInstanceURL
	a.Auth, b.Auth = identity.UpstreamAuthConfig{}, identity.UpstreamAuthConfig{}
	return ua == ub && reflect.DeepEqual(a, b)
}

// authFingerprint is a digest of everything an upstream's credentials are
// built from: the auth settings with their secrets, the contents of the
// files they name, and a generic upstream's credential section. Only the
// digest is kept; nothing of it is logged.
func authFingerprint(uc config.UpstreamConfig, p *profile.Profile) [32]byte {
	h := sha256.New()
	type plain identity.UpstreamAuthConfig // without the redacting MarshalJSON
	b, _ := json.Marshal(plain(uc.Auth))
	h.Write(b)
	for _, f := range []string{uc.Auth.ClientSecretFile, uc.Auth.RefreshTokenFile, uc.Auth.PrivateKeyFile, uc.Auth.TokenFile} {
		if f == "" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			data = []byte("unreadable: " + err.Error()) // NewCredentials reports it
		}
		h.Write([]byte{0})
		h.Write(data)
	}
	if p != nil {
		b, _ := json.Marshal(credentialSpec(p, uc.URL))
		h.Write([]byte{1})
		h.Write(b)
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// current is the profile in use.
func (p *profileUpstream) current() *profile.Profile {
	if p == nil {
		return nil
	}
	return p.classifier.Profile()
}

// restartKeys names the settings that differ between the running
// configuration and the new one and that only a restart applies.
func restartKeys(old, cur *config.Config) []string {
	a, b := *old, *cur
	var keys []string
	// Reloaded: the identity section; limits, quotas, reserve_max and the
	// pre-authentication limits; the TLS files (not turning TLS on or off).
	a.Identity, b.Identity = identity.Config{}, identity.Config{}
	a.Ratelimit.Limits, b.Ratelimit.Limits = nil, nil
	a.Ratelimit.Quotas, b.Ratelimit.Quotas = nil, nil
	a.Ratelimit.ReserveMax, b.Ratelimit.ReserveMax = 0, 0
	a.Ratelimit.PreAuth, b.Ratelimit.PreAuth = ratelimit.PreAuthConfig{}, ratelimit.PreAuthConfig{}
	// The admin token (admin.token or a token_file's contents, read again).
	a.Admin.Token, b.Admin.Token = "", ""
	a.Admin.TokenFile, b.Admin.TokenFile = "", ""
	if (a.Server.TLS == nil) != (b.Server.TLS == nil) {
		keys = append(keys, "server.tls")
	}
	a.Server.TLS, b.Server.TLS = nil, nil
	// Upstreams: one by one, by name.
	keys = append(keys, upstreamKeys(a.Upstreams, b.Upstreams)...)
	a.Upstreams, b.Upstreams = nil, nil
	return append(keys, diffKeys("", reflect.ValueOf(a), reflect.ValueOf(b), 2)...)
}

func upstreamKeys(old, cur []config.UpstreamConfig) []string {
	var keys []string
	byName := map[string]config.UpstreamConfig{}
	for _, u := range old {
		byName[u.Name] = u
	}
	seen := map[string]bool{}
	for _, u := range cur {
		seen[u.Name] = true
		o, ok := byName[u.Name]
		switch {
		case !ok:
			keys = append(keys, "upstreams["+u.Name+"] (added)")
		case !sameUpstreamButAuth(o, u):
			keys = append(keys, "upstreams["+u.Name+"]")
		}
	}
	for _, u := range old {
		if !seen[u.Name] {
			keys = append(keys, "upstreams["+u.Name+"] (removed)")
		}
	}
	return keys
}

// diffKeys lists the YAML keys under which a and b (structs of the same
// type) differ, descending depth levels into nested sections.
func diffKeys(prefix string, a, b reflect.Value, depth int) []string {
	var keys []string
	t := a.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fa, fb := a.Field(i), b.Field(i)
		if reflect.DeepEqual(fa.Interface(), fb.Interface()) {
			continue
		}
		if depth > 1 && fa.Kind() == reflect.Struct {
			if sub := diffKeys(prefix+name+".", fa, fb, depth-1); len(sub) > 0 {
				keys = append(keys, sub...)
				continue
			}
		}
		keys = append(keys, prefix+name)
	}
	return keys
}
