package identity

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
)

// A reloaded certificate is served to new connections; established ones
// keep theirs and keep working. A new client CA applies to new handshakes.
// Files that do not load are refused and the configuration in force stays.
func TestServerTLSReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca1, ca2 := newTestCA(t, "server CA 1"), newTestCA(t, "server CA 2")
	cca1, cca2 := newTestCA(t, "client CA 1"), newTestCA(t, "client CA 2")
	c1, k1 := ca1.issue(t, pkix.Name{CommonName: "crmgw-1"}, nil, true)
	crt, key, cas := writeFile(t, dir, "s.crt", c1), writeFile(t, dir, "s.key", k1), writeFile(t, dir, "clients.pem", cca1.pem)
	st, err := NewServerTLS(crt, key, cas)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Listener = tls.NewListener(ln, st.Config())
	srv.Start()
	defer srv.Close()

	roots := x509.NewCertPool()
	roots.AddCert(ca1.cert)
	roots.AddCert(ca2.cert)
	clientCert := func(ca *testCA) tls.Certificate {
		cp, kp := ca.issue(t, pkix.Name{CommonName: "etl"}, nil, false)
		c, err := tls.X509KeyPair(cp, kp)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	cc1, cc2 := clientCert(cca1), clientCert(cca2)
	client := func(cert tls.Certificate) *http.Client {
		return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}}}}
	}
	served := func(c *http.Client) (string, error) {
		resp, err := c.Get("https://" + ln.Addr().String() + "/")
		if err != nil {
			return "", err
		}
		resp.Body.Close()
		return resp.TLS.PeerCertificates[0].Subject.CommonName, nil
	}
	old := client(cc1)
	if cn, err := served(old); err != nil || cn != "crmgw-1" {
		t.Fatalf("before reload: %q %v", cn, err)
	}

	// Same paths, new contents: a rotated certificate and a new client CA.
	c2, k2 := ca2.issue(t, pkix.Name{CommonName: "crmgw-2"}, nil, true)
	writeFile(t, dir, "s.crt", c2)
	writeFile(t, dir, "s.key", k2)
	writeFile(t, dir, "clients.pem", cca2.pem)
	install, err := st.Prepare(crt, key, cas)
	if err != nil {
		t.Fatal(err)
	}
	if cn, _ := served(client(cc1)); cn != "crmgw-1" {
		t.Fatalf("prepared but not installed: a new connection got %q", cn)
	}
	install()
	if cn, err := served(old); err != nil || cn != "crmgw-1" {
		t.Errorf("the established connection after reload: %q %v (want it kept, with the old certificate)", cn, err)
	}
	if cn, err := served(client(cc2)); err != nil || cn != "crmgw-2" {
		t.Errorf("a new connection after reload: %q %v, want crmgw-2", cn, err)
	}
	if _, err := served(client(cc1)); err == nil {
		t.Error("a client certificate of the replaced client CA was accepted on a new connection")
	}

	// A key that does not match the certificate: refused, crmgw-2 stays.
	c3, _ := ca1.issue(t, pkix.Name{CommonName: "crmgw-3"}, nil, true)
	writeFile(t, dir, "s.crt", c3)
	if _, err := st.Prepare(crt, key, cas); err == nil {
		t.Error("a certificate with the wrong key was accepted")
	}
	if err := os.Remove(cas); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Prepare(crt, key, cas); err == nil {
		t.Error("a missing client CA file was accepted")
	}
	if cn, err := served(client(cc2)); err != nil || cn != "crmgw-2" {
		t.Errorf("after refused reloads: %q %v, want crmgw-2", cn, err)
	}
}

// Swapped credentials: the next Apply uses the new ones; a 401 for a token
// of the old ones does not disturb the new ones.
func TestSwappableCredentials(t *testing.T) {
	t.Parallel()
	mk := func(tok string) Credentials {
		c, err := NewCredentials(UpstreamAuthConfig{Type: AuthStatic, Token: tok}, "salesforce", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	s := NewSwappableCredentials(mk("token-one"))
	apply := func() string {
		r, _ := http.NewRequest("GET", "https://crm.example.com/", nil)
		if err := s.Apply(context.Background(), r, ""); err != nil {
			t.Fatal(err)
		}
		return r.Header.Get("Authorization")
	}
	if got := apply(); got != "Bearer token-one" {
		t.Fatalf("before swap: %q", got)
	}
	s.Swap(mk("token-two"))
	if got := apply(); got != "Bearer token-two" {
		t.Fatalf("after swap: %q", got)
	}
	s.Invalidate("token-one") // the CRM refused a request sent before the swap
	if got := apply(); got != "Bearer token-two" {
		t.Errorf("after an old token's 401: %q", got)
	}
}
