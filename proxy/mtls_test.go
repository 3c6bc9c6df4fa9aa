package proxy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"
)

type testCert struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	der  []byte
}

func newCert(t *testing.T, tmpl *x509.Certificate, parent *testCert) *testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(time.Hour)
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &testCert{cert: c, key: key, der: der}
}

func (c *testCert) write(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	kb, _ := x509.MarshalECPrivateKey(c.key)
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func (c *testCert) tlsCert() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{c.der}, PrivateKey: c.key}
}

// TestMTLSThroughTheGateway serves the proxy listener with TLS and a client
// CA: a listed client certificate alone identifies an integration, a
// certificate from another CA or none at all never gets a response.
func TestMTLSThroughTheGateway(t *testing.T) {
	dir := t.TempDir()
	ca := newCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: "crmgw test CA"}, IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}, nil)
	server := newCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: "127.0.0.1"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, ca)
	spiffe, _ := url.Parse("spiffe://acme.example/etl")
	client := newCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: "etl"}, URIs: []*url.URL{spiffe},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, ca)
	otherCA := newCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: "other CA"}, IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}, nil)
	stranger := newCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: "etl"}, URIs: []*url.URL{spiffe},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, otherCA)

	caFile, _ := ca.write(t, dir, "ca")
	srvCert, srvKey := server.write(t, dir, "server")
	e := newEnv(t, envOptions{
		serverTLS: "  tls: {cert_file: " + srvCert + ", key_file: " + srvKey + ", client_ca_file: " + caFile + "}\n",
		identity:  "  mtls:\n    identity: true\n    clients:\n      - {id: etl, spiffe_id: \"spiffe://acme.example/etl\", roles: [sales_rep]}\n",
	})
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	call := func(c *testCert) (*http.Response, error) {
		tc := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		if c != nil {
			cert := c.tlsCert()
			tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
		}
		cl := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
		return cl.Get("https://" + e.srv.ProxyAddr() + contactQuery)
	}

	resp, err := call(client)
	if err != nil {
		t.Fatalf("listed client certificate: %v", err)
	}
	body := readAll(t, resp)
	if resp.StatusCode != 200 {
		t.Fatalf("listed client certificate: %d %s", resp.StatusCode, body)
	}
	if got := e.crm.Requests()[0].Header.Get("Authorization"); got != "Bearer "+sfToken {
		t.Fatalf("upstream Authorization %q", got)
	}
	if _, err := call(nil); err == nil {
		t.Fatal("a request without a client certificate got a response")
	}
	if _, err := call(stranger); err == nil {
		t.Fatal("a certificate from another CA got a response")
	}
	if n := len(e.crm.Requests()); n != 1 {
		t.Fatalf("%d requests reached the CRM, want 1", n)
	}
	evs := e.auditEvents(1)
	if id := get(evs[0], "actor", "client_id"); id != "etl" {
		t.Errorf("audit actor.client_id = %v", id)
	}
}
