package identity

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/crmgw/crmgw/internal/tmplref"
)

// SignedSpec is a profile's signed-header scheme (docs/profiles.md,
// "credential.signed"): HMAC-SHA256 keyed with Key over StringToSign,
// base64 or hex, written with Headers.
type SignedSpec struct {
	Key, StringToSign, Encoding string
	Headers                     map[string]string
}

// signedCredentials signs every request; there is no token to cache.
type signedCredentials struct {
	spec   SignedSpec
	params map[string]string
	strip  []string
	now    func() time.Time
	nonce  func() string
}

func newSignedCredentials(spec SignedSpec, params map[string]string, strip []string) (*signedCredentials, error) {
	var missing []string
	for _, t := range append([]string{spec.Key, spec.StringToSign}, mapVals(spec.Headers)...) {
		for _, ref := range tmplref.Refs(t) {
			if name, ok := strings.CutPrefix(ref, "param."); ok {
				if _, set := params[name]; !set {
					missing = append(missing, name)
				}
			}
		}
	}
	if len(missing) > 0 {
		return nil, errors.New("identity: auth.params is missing " + strings.Join(dedupe(sortStrings(missing)), ", ") + " (the profile's signed scheme uses them)")
	}
	return &signedCredentials{spec: spec, params: params, strip: strip, now: time.Now, nonce: randomNonce}, nil
}

func mapVals(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func sortStrings(s []string) []string {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s
}

func randomNonce() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Apply signs r and writes the signature headers; caller headers the
// profile names, and Authorization, are removed first.
func (s *signedCredentials) Apply(_ context.Context, r *http.Request, _ string) error {
	for _, h := range s.strip {
		r.Header.Del(h)
	}
	r.Header.Del("Authorization")
	var body []byte
	if r.Body != nil && r.Body != http.NoBody {
		b, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return err
		}
		body = b
		r.Body = io.NopCloser(bytes.NewReader(b))
	}
	now := s.now()
	sum := sha256.Sum256(body)
	vals := map[string]string{
		"method":       r.Method,
		"path":         r.URL.EscapedPath(),
		"path_escaped": url.QueryEscape(r.URL.EscapedPath()),
		"query":        r.URL.RawQuery,
		"timestamp":    strconv.FormatInt(now.Unix(), 10),
		"timestamp_ms": strconv.FormatInt(now.UnixMilli(), 10),
		"nonce":        s.nonce(),
		"body_sha256":  hex.EncodeToString(sum[:]),
	}
	fill := func(t string) string {
		return tmplref.Expand(t, func(ref string) bool {
			_, isVal := vals[ref]
			return isVal || strings.HasPrefix(ref, "param.")
		}, func(ref string) string {
			if name, ok := strings.CutPrefix(ref, "param."); ok {
				return s.params[name]
			}
			return vals[ref]
		})
	}
	mac := hmac.New(sha256.New, []byte(fill(s.spec.Key)))
	mac.Write([]byte(fill(s.spec.StringToSign)))
	sig := mac.Sum(nil)
	if s.spec.Encoding == "hex" {
		vals["signature"] = hex.EncodeToString(sig)
	} else {
		vals["signature"] = base64.StdEncoding.EncodeToString(sig)
	}
	for h, v := range s.spec.Headers {
		r.Header.Set(h, fill(v))
	}
	return nil
}

func (s *signedCredentials) Invalidate(string)   {}
func (s *signedCredentials) InstanceURL() string { return "" }
