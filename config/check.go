package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"

	"github.com/crmgw/crmgw/internal/confkey"
)

// The checks below are the ones `crmgw serve` would otherwise only meet
// when it starts listening, so that `crmgw validate` fails where serve
// would (short of binding the ports).

// checkListen says what is wrong with a listen address, or "".
func checkListen(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Sprintf("want host:port, got %q", addr)
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		if _, err := net.LookupPort("tcp", port); err != nil {
			return fmt.Sprintf("port %q is neither a number nor a known service name", port)
		}
	} else if n < 0 || n > 65535 {
		return fmt.Sprintf("port %d is out of range (0-65535)", n)
	}
	return ""
}

// checkFiles opens the files the configuration names, as serve will: the
// listener's certificate, key and client CA, and the policy paths. Load
// runs it; Parse, which has no file system to speak of, does not.
func (c *Config) checkFiles() []error {
	var errs []error
	if t := c.Server.TLS; t != nil {
		errs = append(errs, checkServerTLS(t)...)
	}
	for i, p := range c.Policy.Paths {
		if _, err := os.Stat(p); err != nil {
			errs = append(errs, confkey.Errorf("policy.paths["+strconv.Itoa(i)+"]", "%s does not exist or cannot be read", p))
		}
	}
	return errs
}

// checkServerTLS loads the listener's certificate, key and client CA as the
// listener will.
func checkServerTLS(t *TLSConfig) []error {
	var errs []error
	if t.CertFile != "" && t.KeyFile != "" {
		if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
			errs = append(errs, confkey.Errorf("server.tls.cert_file", "cannot load the certificate and key: %v", unwrapPath(err)))
		}
	}
	if t.ClientCAFile != "" {
		pem, err := os.ReadFile(t.ClientCAFile)
		switch {
		case err != nil:
			errs = append(errs, confkey.Errorf("server.tls.client_ca_file", "%v", unwrapPath(err)))
		case !x509.NewCertPool().AppendCertsFromPEM(pem):
			errs = append(errs, confkey.Errorf("server.tls.client_ca_file", "%s holds no PEM certificate", t.ClientCAFile))
		}
	}
	return errs
}

// unwrapPath shortens "open /a/b: no such file or directory" to the path
// and the reason, which is all a person needs.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Path, pe.Err)
	}
	return err
}
