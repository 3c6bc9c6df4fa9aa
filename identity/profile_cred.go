package identity

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-json-experiment/json/jsontext"
	"go.uber.org/zap"

	"github.com/crmgw/crmgw/internal/jsonptr"
	"github.com/crmgw/crmgw/internal/tmplref"
)

// ProfileCredentialSpec is what a CRM profile says about the gateway's
// credential (docs/profiles.md, "credential"): how to obtain it, where to
// write it, and which caller headers to remove.
type ProfileCredentialSpec struct {
	// BaseURL is the upstream's URL; TokenPath is joined to it.
	BaseURL string
	// Token endpoint (used with auth.type: profile).
	TokenPath, TokenBody         string
	TokenPointer, ExpiresPointer string
	OKPointer, OKValue           string
	Values                       map[string]string
	Place                        []ProfilePlacement
	StripHeaders                 []string
	// Signed, when set, signs every request instead (profile_signed.go).
	Signed *SignedSpec
}

// ProfilePlacement is one place the credential is written: exactly one of
// Header, Query, Body (a JSON pointer); Value is a template of {token},
// {value.NAME} and {param.NAME}.
type ProfilePlacement struct {
	Header, Query, Body, Value string
}

// profileCredentials writes the credential where a profile says.
type profileCredentials struct {
	spec   ProfileCredentialSpec
	params map[string]string
	base   Credentials            // the token source
	values atomic.Pointer[values] // the token endpoint's extra values
}

type values map[string]string

// NewProfileCredentials builds the credentials of a generic upstream whose
// profile places the credential. With auth.type profile the token comes
// from the profile's token endpoint, called with auth.params; otherwise
// from upstreams[].auth as for any upstream (static, client_credentials,
// refresh_token, jwt_bearer). Passthrough is refused: the caller's own
// credential would have to be copied into the places the profile strips.
func NewProfileCredentials(cfg UpstreamAuthConfig, spec ProfileCredentialSpec, client *http.Client, logger *zap.Logger) (Credentials, error) {
	if logger == nil {
		logger = zap.NewNop()
	}
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	pc := &profileCredentials{spec: spec, params: cfg.Params}
	if spec.Signed != nil && cfg.Type != AuthProfile {
		return nil, errors.New("identity: the profile signs requests (credential.signed): set auth.type profile with the key in auth.params")
	}
	// Every {param.NAME} the profile uses must be configured.
	var missing []string
	need := func(tmpl string) {
		for _, ref := range tmplref.Refs(tmpl) {
			if name, ok := strings.CutPrefix(ref, "param."); ok {
				if _, set := cfg.Params[name]; !set {
					missing = append(missing, name)
				}
			}
		}
	}
	for _, p := range spec.Place {
		need(p.Value)
	}
	switch cfg.Type {
	case AuthProfile:
		if spec.Signed != nil {
			return newSignedCredentials(*spec.Signed, cfg.Params, spec.StripHeaders)
		}
		if spec.TokenPath == "" {
			return nil, errors.New("identity: auth type profile: the profile has no credential.token_endpoint or credential.signed")
		}
		need(spec.TokenBody)
		if len(missing) == 0 {
			pc.base = pc.tokenEndpoint(cfg, client, logger)
		}
	case AuthPassthrough:
		return nil, errors.New("identity: a profile upstream cannot use passthrough: the caller's credential is removed from every place the profile names")
	default:
		// {value.NAME} without the token endpoint comes from params.
		for _, p := range spec.Place {
			for _, ref := range tmplref.Refs(p.Value) {
				if name, ok := strings.CutPrefix(ref, "value."); ok {
					if _, set := cfg.Params[name]; !set {
						missing = append(missing, name)
					}
				}
			}
		}
		if len(missing) == 0 {
			base, err := NewCredentials(cfg, "generic", client, logger)
			if err != nil {
				return nil, err
			}
			pc.base = base
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("identity: auth.params is missing %s (the profile's credential uses them)", strings.Join(dedupe(missing), ", "))
	}
	return pc, nil
}

func dedupe(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// tokenEndpoint returns credentials fetching the token from the profile's
// token endpoint: a JSON body from the template, the token and its
// lifetime at JSON pointers.
func (pc *profileCredentials) tokenEndpoint(cfg UpstreamAuthConfig, client *http.Client, logger *zap.Logger) Credentials {
	margin := cfg.RefreshMargin
	if margin == 0 {
		margin = time.Minute
	}
	c := &oauthCredentials{
		scheme: "Token", client: client, logger: logger.With(zap.String("auth_type", AuthProfile)),
		now: time.Now, margin: margin, failBackoff: time.Second, sem: make(chan struct{}, 1),
		tokenURL: strings.TrimSuffix(pc.spec.BaseURL, "/") + pc.spec.TokenPath,
	}
	for _, v := range cfg.Params {
		c.secrets = append(c.secrets, v)
	}
	c.fetch = func(ctx context.Context) (*upstreamToken, error) {
		body := expandTemplate(pc.spec.TokenBody, func(ref string) string {
			name, _ := strings.CutPrefix(ref, "param.")
			return jsonStringBody(cfg.Params[name])
		})
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.tokenURL, strings.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("identity: profile token endpoint: %s", scrubURLError(err))
		}
		defer resp.Body.Close()
		raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err != nil {
			return nil, fmt.Errorf("identity: profile token endpoint: reading the answer: %w", err)
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("identity: profile token endpoint answered HTTP %d", resp.StatusCode)
		}
		doc, err := jsonptr.Parse(raw)
		if err != nil {
			return nil, errors.New("identity: profile token endpoint: the answer is not JSON")
		}
		if pc.spec.OKPointer != "" {
			v, _ := jsonptr.Get(doc, pc.spec.OKPointer)
			if text(v) != pc.spec.OKValue {
				return nil, fmt.Errorf("identity: profile token endpoint refused the request (%s = %q)", pc.spec.OKPointer, text(v))
			}
		}
		tv, _ := jsonptr.Get(doc, pc.spec.TokenPointer)
		tok, ok := tv.(string)
		if !ok || tok == "" {
			return nil, fmt.Errorf("identity: profile token endpoint: no token at %s", pc.spec.TokenPointer)
		}
		t := &upstreamToken{access: tok}
		if pc.spec.ExpiresPointer != "" {
			if ev, ok := jsonptr.Get(doc, pc.spec.ExpiresPointer); ok {
				if secs, err := strconv.ParseInt(text(ev), 10, 64); err == nil && secs > 0 {
					t.expiry = c.now().Add(time.Duration(secs) * time.Second)
				}
			}
		}
		vals := values{}
		for name, ptr := range pc.spec.Values {
			if v, ok := jsonptr.Get(doc, ptr); ok {
				vals[name] = text(v)
			}
		}
		pc.values.Store(&vals)
		return t, nil
	}
	return c
}

// Apply removes the caller headers the profile names and writes the
// gateway's credential in every place the profile says.
func (pc *profileCredentials) Apply(ctx context.Context, r *http.Request, _ string) error {
	// The base credentials' Authorization header tells the token.
	scratch := &http.Request{Header: http.Header{}}
	if err := pc.base.Apply(ctx, scratch, ""); err != nil {
		return err
	}
	token := TokenFromHeader(scratch.Header.Get("Authorization"))
	for _, h := range pc.spec.StripHeaders {
		r.Header.Del(h)
	}
	r.Header.Del("Authorization")
	vals := pc.values.Load()
	fill := func(tmpl string, inJSON bool) string {
		return expandTemplate(tmpl, func(ref string) string {
			v := ""
			switch {
			case ref == "token":
				v = token
			case strings.HasPrefix(ref, "value."):
				name := ref[len("value."):]
				if vals != nil {
					if x, ok := (*vals)[name]; ok {
						v = x
						break
					}
				}
				v = pc.params[name]
			case strings.HasPrefix(ref, "param."):
				v = pc.params[ref[len("param."):]]
			}
			if inJSON {
				return jsonStringBody(v)
			}
			return v
		})
	}
	var members []jsonptr.Member
	var query url.Values
	for _, p := range pc.spec.Place {
		switch {
		case p.Header != "":
			r.Header.Set(p.Header, fill(p.Value, false))
		case p.Query != "":
			if query == nil {
				query = r.URL.Query()
			}
			query.Set(p.Query, fill(p.Value, false))
		case p.Body != "":
			members = append(members, jsonptr.Member{Pointer: p.Body, Value: jsontext.Value(`"` + fill(p.Value, true) + `"`)})
		}
	}
	if query != nil {
		r.URL.RawQuery = query.Encode()
	}
	if len(members) == 0 {
		return nil
	}
	var body []byte
	if r.Body != nil && r.Body != http.NoBody {
		b, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return err
		}
		body = b
	}
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	out, err := jsonptr.Rewrite(body, nil, members)
	if err != nil {
		return fmt.Errorf("identity: writing the credential into the request body: %w", err)
	}
	r.Body = io.NopCloser(bytes.NewReader(out))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(out)), nil }
	r.ContentLength = int64(len(out))
	r.Header.Del("Content-Length")
	return nil
}

func (pc *profileCredentials) Invalidate(failed string) { pc.base.Invalidate(failed) }
func (pc *profileCredentials) InstanceURL() string      { return "" }

// expandTemplate replaces {token}, {value.NAME} and {param.NAME}; other
// braces (JSON's own) are left alone.
func expandTemplate(tmpl string, get func(ref string) string) string {
	return tmplref.Expand(tmpl, func(ref string) bool {
		return ref == "token" || strings.HasPrefix(ref, "value.") || strings.HasPrefix(ref, "param.")
	}, get)
}

// jsonStringBody is s escaped for the inside of a JSON string.
func jsonStringBody(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}

func text(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}
