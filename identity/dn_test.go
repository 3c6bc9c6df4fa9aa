package identity

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"
	"net/http"
	"net/url"
	"testing"
	"time"
)

var (
	oidCN = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidO  = asn1.ObjectIdentifier{2, 5, 4, 10}
	oidOU = asn1.ObjectIdentifier{2, 5, 4, 11}
)

func TestParseDN(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in, want string // want "" means an error
	}{
		{"CN=legacy,O=Acme", "CN=legacy,O=Acme"},
		{"cn=legacy, o=Acme", "CN=legacy,O=Acme"},
		{" CN = legacy , O = Acme ", "CN=legacy,O=Acme"},
		{"2.5.4.3=legacy,OID.2.5.4.10=Acme", "CN=legacy,O=Acme"},
		{"OU=x+CN=legacy,O=Acme", "CN=legacy+OU=x,O=Acme"},
		{"CN=legacy+OU=x,O=Acme", "CN=legacy+OU=x,O=Acme"},
		{`CN=legacy\,O=Acme`, `CN=legacy\,O\=Acme`},
		{`CN=a\+b,O=Acme`, `CN=a\+b,O=Acme`},
		{`CN=\ lead,O=Acme`, `CN=\ lead,O=Acme`},
		{`CN=trail\ ,O=Acme`, `CN=trail\ ,O=Acme`},
		{`CN=\#hash,O=Acme`, `CN=\#hash,O=Acme`},
		{`CN=caf\C3\A9,O=Acme`, "CN=café,O=Acme"},
		{`CN=a\0Ab`, `CN=a\0Ab`},
		{"CN=#0c066c6567616379", "CN=#0c066c6567616379"},
		{"DC=example,DC=org,UID=jdoe", "DC=example,DC=org,UID=jdoe"},
		{"1.2.840.113549.1.9.1=ops@example.com", "1.2.840.113549.1.9.1=ops@example.com"},
		{"", ""},
		{"CN", ""},
		{"CN=", ""},
		{"CN=legacy,", ""},
		{"CN=legacy+", ""},
		{"XX=legacy", ""},
		{"1=x", ""},
		{"2.05.4=x", ""},
		{`CN=a\`, ""},
		{`CN=a\zz`, ""},
		{`CN=a"b`, ""},
		{"CN=a;O=b", ""},
		{"CN=#zz", ""},
		{"CN=#0c06", ""},
		{",CN=x", ""},
	}
	for _, tc := range cases {
		got, err := ParseDN(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("ParseDN(%q) = %q, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseDN(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// leafWith issues a real certificate with the given subject (a pkix.Name,
// or raw DER when raw is non-nil) and URI SANs.
func leafWith(t *testing.T, ca *testCA, subject pkix.Name, raw []byte, uris ...string) *x509.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: subject, RawSubject: raw,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	for _, u := range uris {
		pu, _ := url.Parse(u)
		tmpl.URIs = append(tmpl.URIs, pu)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func rawSubject(t *testing.T, seq pkix.RDNSequence) []byte {
	t.Helper()
	b, err := asn1.Marshal(seq)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The ways around an exact-identity match are rows here: a repeated CN, a
// multi-valued RDN, a value holding the separator, another order, an
// unregistered SPIFFE ID on a certificate whose DN is registered.
func TestCertificateIdentityIsExact(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "client CA")
	const spiffe = "spiffe://example.org/ns/etl/sa/nightly"
	a, _ := newTestAuth(t, nil, func(c *Config) {
		c.MTLS = MTLSConfig{Identity: true, Clients: []MTLSClientConfig{
			{ID: "legacy-app", SubjectDN: "CN=legacy, O=Acme", Roles: []string{"reader"}},
			{ID: "nightly-job", SPIFFEID: spiffe, Roles: []string{"integration"}},
		}}
	})
	twoCNs := leafWith(t, ca, pkix.Name{}, rawSubject(t, pkix.RDNSequence{
		{{Type: oidO, Value: "Acme"}}, {{Type: oidCN, Value: "evil"}}, {{Type: oidCN, Value: "legacy"}}}))
	// What the matching must not rely on: pkix.Name keeps one CommonName,
	// the last, and prints this certificate like the registered DN.
	if twoCNs.Subject.CommonName != "legacy" {
		t.Fatalf("pkix.Name.CommonName = %q", twoCNs.Subject.CommonName)
	}

	cases := []struct {
		name   string
		cert   *x509.Certificate
		wantID string // "" = refused
	}{
		{"the registered DN is accepted", leafWith(t, ca, pkix.Name{Organization: []string{"Acme"}, CommonName: "legacy"}, nil), "legacy-app"},
		{"the registered SPIFFE ID is accepted", leafWith(t, ca, pkix.Name{CommonName: "whatever"}, nil, spiffe), "nightly-job"},
		{"O=Acme, CN=evil, CN=legacy is not CN=legacy,O=Acme", twoCNs, ""},
		{"a multi-valued RDN CN=legacy+OU=x is not CN=legacy", leafWith(t, ca, pkix.Name{}, rawSubject(t, pkix.RDNSequence{
			{{Type: oidO, Value: "Acme"}}, {{Type: oidCN, Value: "legacy"}, {Type: oidOU, Value: "x"}}})), ""},
		{"a CN holding the whole DN is not the DN", leafWith(t, ca, pkix.Name{CommonName: "legacy,O=Acme"}, nil), ""},
		{"the same attributes in another order are another DN", leafWith(t, ca, pkix.Name{}, rawSubject(t, pkix.RDNSequence{
			{{Type: oidCN, Value: "legacy"}}, {{Type: oidO, Value: "Acme"}}})), ""},
		{"a different case in the value is another DN", leafWith(t, ca, pkix.Name{Organization: []string{"acme"}, CommonName: "legacy"}, nil), ""},
		{"an extra OU is another DN", leafWith(t, ca, pkix.Name{Organization: []string{"Acme"}, OrganizationalUnit: []string{"ops"}, CommonName: "legacy"}, nil), ""},
		{"an unregistered SPIFFE ID does not fall back to a registered DN", leafWith(t, ca, pkix.Name{Organization: []string{"Acme"}, CommonName: "legacy"}, nil, "spiffe://example.org/other"), ""},
		{"two SPIFFE IDs are refused", leafWith(t, ca, pkix.Name{CommonName: "x"}, nil, spiffe, "spiffe://example.org/other"), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := request()
			r.TLS = &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{tc.cert, ca.cert}}}
			s, err := a.Authenticate(r)
			if tc.wantID != "" {
				if err != nil || s.ID != tc.wantID || s.Method != MethodMTLS {
					t.Fatalf("got %+v, %v; want %s", s, err, tc.wantID)
				}
				return
			}
			var ae *AuthError
			if err == nil {
				t.Fatalf("authenticated as %s", s.ID)
			}
			if !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized || ae.Reason != GenericReason {
				t.Fatalf("got %v, want a generic 401", err)
			}
		})
	}
	t.Run("the subject in the claims is the canonical DN", func(t *testing.T) {
		r := request()
		r.TLS = &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{twoCNs, ca.cert}}}
		a2, _ := newTestAuth(t, nil, func(c *Config) {
			c.MTLS = MTLSConfig{Identity: true, Clients: []MTLSClientConfig{{ID: "x", SubjectDN: "CN=legacy,CN=evil,O=Acme"}}}
		})
		s, err := a2.Authenticate(r)
		if err != nil || s.CertSubject != "CN=legacy,CN=evil,O=Acme" {
			t.Fatalf("%+v %v", s, err)
		}
	})
}

// FuzzDN checks that the canonical form is stable: a configured DN parses
// to a form that parses to itself, and a certificate subject's form (values
// of any bytes) parses back to the same form, so a configured DN can name
// exactly one certificate subject.
func FuzzDN(f *testing.F) {
	for _, s := range []string{"CN=legacy,O=Acme", `CN=a\,b+OU=c,O=d`, `CN=\ x\ `, "CN=#0c0161", "cn=x, 2.5.4.10=y", `CN=caf\C3\A9`} {
		f.Add(s, "legacy", "Acme", "x")
	}
	f.Fuzz(func(t *testing.T, dn, cn, o, ou string) {
		if c, err := ParseDN(dn); err == nil {
			c2, err := ParseDN(c)
			if err != nil || c2 != c {
				t.Fatalf("ParseDN(%q) = %q, which parses to %q, %v", dn, c, c2, err)
			}
		}
		seq := pkix.RDNSequence{{{Type: oidO, Value: o}}, {{Type: oidCN, Value: cn}, {Type: oidOU, Value: ou}}}
		raw, err := asn1.Marshal(seq)
		if err != nil {
			return // not encodable as a certificate string
		}
		c, err := CanonicalDN(raw)
		if err != nil {
			t.Fatalf("CanonicalDN of a valid sequence: %v", err)
		}
		if cn == "" || o == "" || ou == "" {
			return // empty values cannot be configured
		}
		back, err := ParseDN(c)
		if err != nil || back != c {
			t.Fatalf("certificate DN %q parses to %q, %v", c, back, err)
		}
	})
}
