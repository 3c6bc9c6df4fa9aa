package identity

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue makes a leaf certificate; server certificates are for 127.0.0.1.
func (ca *testCA) issue(t *testing.T, subject pkix.Name, uris []string, server bool) (certPEM, keyPEM []byte) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      subject,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	for _, u := range uris {
		pu, _ := url.Parse(u)
		tmpl.URIs = append(tmpl.URIs, pu)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMutualTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	serverCA := newTestCA(t, "server CA")
	clientCA := newTestCA(t, "client CA")
	rogueCA := newTestCA(t, "rogue CA")
	const spiffe = "spiffe://example.org/ns/etl/sa/nightly"

	sc, sk := serverCA.issue(t, pkix.Name{CommonName: "crmgw"}, nil, true)
	tlsCfg, err := TLSConfig(writeFile(t, dir, "s.crt", sc), writeFile(t, dir, "s.key", sk), writeFile(t, dir, "clients.pem", clientCA.pem))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := newTestAuth(t, nil, func(c *Config) {
		c.APIKeys = []APIKeyConfig{{ID: "etl", KeySHA256: sha256Hex("the-key")}}
		c.MTLS = MTLSConfig{Identity: true, Clients: []MTLSClientConfig{{ID: "nightly-job", SPIFFEID: spiffe, Roles: []string{"integration"}}}}
	})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := a.Authenticate(r)
		var ae *AuthError
		if errors.As(err, &ae) {
			http.Error(w, ae.Reason, ae.Status)
			return
		}
		_ = json.NewEncoder(w).Encode(s)
	}))
	srv.TLS = tlsCfg
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(serverCA.pem)
	client := func(certPEM, keyPEM []byte) *http.Client {
		cfg := &tls.Config{RootCAs: roots}
		if certPEM != nil {
			c, err := tls.X509KeyPair(certPEM, keyPEM)
			if err != nil {
				t.Fatal(err)
			}
			// Always present the certificate, even when its CA is not one
			// the server names, so the server really has to refuse it.
			cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &c, nil }
		}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	}
	goodCert, goodKey := clientCA.issue(t, pkix.Name{CommonName: "etl-nightly", Organization: []string{"Acme"}}, []string{spiffe}, false)
	rogueCert, rogueKey := rogueCA.issue(t, pkix.Name{CommonName: "etl-nightly"}, []string{spiffe}, false)
	otherCert, otherKey := clientCA.issue(t, pkix.Name{CommonName: "someone"}, nil, false)

	get := func(c *http.Client, auth string) (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/services/data/v60.0/limits", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		return c.Do(req)
	}
	t.Run("a client without a certificate fails the handshake", func(t *testing.T) {
		if resp, err := get(client(nil, nil), "Bearer the-key"); err == nil {
			resp.Body.Close()
			t.Fatalf("request without a client certificate got %s", resp.Status)
		}
	})
	t.Run("a certificate from another CA fails the handshake", func(t *testing.T) {
		resp, err := get(client(rogueCert, rogueKey), "Bearer the-key")
		if err == nil {
			resp.Body.Close()
			t.Fatalf("request with a rogue certificate got %s", resp.Status)
		}
		t.Log(err)
	})
	t.Run("a good certificate plus an API key identifies the key and exposes the certificate", func(t *testing.T) {
		resp, err := get(client(goodCert, goodKey), "Bearer the-key")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var s Subject
		if err := json.NewDecoder(resp.Body).Decode(&s); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s %v", resp.Status, err)
		}
		if s.ID != "etl" || s.Claims["spiffe_id"] != spiffe || s.SPIFFEID != spiffe ||
			s.Claims["x509_subject"] != "CN=etl-nightly,O=Acme" {
			t.Fatalf("%+v", s)
		}
	})
	t.Run("a registered certificate alone identifies its client when mtls.identity is on", func(t *testing.T) {
		resp, err := get(client(goodCert, goodKey), "")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var s Subject
		_ = json.NewDecoder(resp.Body).Decode(&s)
		if resp.StatusCode != 200 || s.ID != "nightly-job" || s.Kind != KindClient || s.Method != MethodMTLS || s.Roles[0] != "integration" {
			t.Fatalf("%s %+v", resp.Status, s)
		}
	})
	t.Run("an unregistered certificate alone is not a credential", func(t *testing.T) {
		resp, err := get(client(otherCert, otherKey), "")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("got %s", resp.Status)
		}
	})
	t.Run("a good certificate does not rescue a bad key", func(t *testing.T) {
		resp, err := get(client(goodCert, goodKey), "Bearer wrong")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("got %s", resp.Status)
		}
	})
}

func TestTLSConfigErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := ClientCAPool(writeFile(t, dir, "empty.pem", []byte("not pem"))); err == nil {
		t.Fatal("a CA file without certificates was accepted")
	}
	if _, err := ClientCAPool(filepath.Join(dir, "missing.pem")); err == nil {
		t.Fatal("a missing CA file was accepted")
	}
	if _, err := TLSConfig("", "", ""); err == nil {
		t.Fatal("TLS without a certificate was accepted")
	}
}
