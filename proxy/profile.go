package proxy

import (
	"errors"
	"fmt"
	"net/http"

	"go.uber.org/zap"

	"github.com/crmgw/crmgw/config"
	"github.com/crmgw/crmgw/crm/profile"
	"github.com/crmgw/crmgw/identity"
)

// profileUpstream is the part of an upstream of type generic that comes
// from its CRM profile (docs/profiles.md): the classifier (hot-reloaded)
// and the CRM's error shape.
type profileUpstream struct {
	ref        string // upstreams[].profile: a built-in name or a file
	classifier *profile.Classifier
}

// loadProfile reads an upstream's profile and builds its credentials.
func (g *Gateway) loadProfile(uc config.UpstreamConfig, client *http.Client) (*profileUpstream, identity.Credentials, error) {
	p, err := profile.Load(uc.Profile)
	if err != nil {
		return nil, nil, err
	}
	creds, err := identity.NewProfileCredentials(uc.Auth, credentialSpec(p, uc.URL), client,
		g.log.Named("upstream-auth").With(zap.String("upstream", uc.Name)))
	if err != nil {
		return nil, nil, err
	}
	return &profileUpstream{ref: uc.Profile, classifier: profile.NewClassifier(p)}, creds, nil
}

// credentialSpec converts a profile's credential section for identity.
func credentialSpec(p *profile.Profile, baseURL string) identity.ProfileCredentialSpec {
	c := p.Credential
	spec := identity.ProfileCredentialSpec{BaseURL: baseURL, StripHeaders: c.Strip.Header}
	if te := c.TokenEndpoint; te != nil {
		spec.TokenPath, spec.TokenBody = te.Path, te.Body
		spec.TokenPointer, spec.ExpiresPointer = te.Token, te.ExpiresIn
		spec.OKPointer, spec.OKValue, spec.Values = te.OK, te.OKValue, te.Values
	}
	if sg := c.Signed; sg != nil {
		spec.Signed = &identity.SignedSpec{Key: sg.Key, StringToSign: sg.StringToSign, Encoding: sg.Encoding, Headers: sg.Headers}
	}
	for _, pl := range c.Place {
		spec.Place = append(spec.Place, identity.ProfilePlacement{Header: pl.Header, Query: pl.Query, Body: pl.Body, Value: pl.Value})
	}
	return spec
}

// prepareProfiles re-reads every upstream's profile; install swaps them
// all in. One that does not load or validate fails it, and the profiles in
// use stay. The new profiles come back by upstream name, for the
// credentials a reload builds from their credential section (reload.go).
func (g *Gateway) prepareProfiles() (install func(), loaded map[string]*profile.Profile, err error) {
	var errs []error
	type swap struct {
		c *profile.Classifier
		p *profile.Profile
	}
	var swaps []swap
	loaded = map[string]*profile.Profile{}
	for _, u := range g.upstreams {
		if u.profile == nil {
			continue
		}
		p, err := profile.Load(u.profile.ref)
		if err != nil {
			errs = append(errs, fmt.Errorf("upstream %s: profile kept: %w", u.name, err))
			continue
		}
		swaps = append(swaps, swap{u.profile.classifier, p})
		loaded[u.name] = p
	}
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	return func() {
		for _, s := range swaps {
			s.c.Swap(s.p)
		}
	}, loaded, nil
}

// writeProfileError answers in the profile CRM's own error shape.
func writeProfileError(w http.ResponseWriter, pu *profileUpstream, status int, code, reason, requestID string) {
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Cache-Control", "no-store")
	h.Del("Content-Length")
	w.WriteHeader(status)
	_, _ = w.Write(profile.ExpandError(pu.classifier.Profile().Error.Body, status, code, reason, requestID))
}

// writeErrorFor answers in the upstream's error shape: its profile's, or
// the CRM type's.
func writeErrorFor(w http.ResponseWriter, u *upstream, status int, code, reason, requestID string) {
	if u.profile != nil {
		writeProfileError(w, u.profile, status, code, reason, requestID)
		return
	}
	writeError(w, u.typ, status, code, reason, requestID)
}
