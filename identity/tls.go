package identity

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
)

// ClientCAPool reads a PEM file of CA certificates that sign client
// certificates.
func ClientCAPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("identity: reading client CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("identity: client CA file %s holds no PEM certificate", file)
	}
	return pool, nil
}

// TLSConfig is the listener's TLS configuration: TLS 1.2 or later with the
// server certificate from certFile/keyFile and, if clientCAFile is not
// empty, mutual TLS: every client must present a certificate signed by one
// of those CAs, or the handshake fails.
func TLSConfig(certFile, keyFile, clientCAFile string) (*tls.Config, error) {
	if certFile == "" || keyFile == "" {
		return nil, errors.New("identity: TLS needs both cert_file and key_file")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("identity: loading server certificate: %w", err)
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"h2", "http/1.1"},
	}
	if clientCAFile != "" {
		pool, err := ClientCAPool(clientCAFile)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// ServerTLS is the listener's TLS configuration, replaceable while the
// listener runs: the listener's tls.Config hands every new handshake the
// configuration in force (GetConfigForClient), so a reloaded certificate
// or client CA applies to new connections and established ones keep
// theirs (docs/deploy.md, "Reload").
type ServerTLS struct {
	cur      atomic.Pointer[tls.Config]
	listener *tls.Config
}

// NewServerTLS loads the certificate, key and client CAs as TLSConfig does.
func NewServerTLS(certFile, keyFile, clientCAFile string) (*ServerTLS, error) {
	tc, err := TLSConfig(certFile, keyFile, clientCAFile)
	if err != nil {
		return nil, err
	}
	s := &ServerTLS{}
	s.cur.Store(tc)
	s.listener = &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: tc.NextProtos,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return s.cur.Load(), nil
		},
	}
	return s, nil
}

// Config is the tls.Config to give the listener.
func (s *ServerTLS) Config() *tls.Config { return s.listener }

// Prepare loads the files again (they may be the same paths with new
// contents); install makes the new handshakes use them. A file that does
// not load fails Prepare and the configuration in force stays.
func (s *ServerTLS) Prepare(certFile, keyFile, clientCAFile string) (install func(), err error) {
	tc, err := TLSConfig(certFile, keyFile, clientCAFile)
	if err != nil {
		return nil, err
	}
	return func() { s.cur.Store(tc) }, nil
}
