package audit

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSyslogSinkOverTLS(t *testing.T) {
	srv := httptest.NewTLSServer(nil) // for its certificate only
	defer srv.Close()
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: srv.TLS.Certificates})
	if err != nil {
		t.Fatal(err)
	}
	ls := &tcpSyslog{l: l}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go ls.read(c)
		}
	}()
	defer l.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600)
	sc := SinkConfig{Type: "syslog", Address: "tls://" + l.Addr().String(), TLS: &TLSConfig{CAFile: ca}}
	a, _ := start(t, Config{Sinks: []SinkConfig{sc}, SpoolDir: t.TempDir()}, AlertsConfig{}, nil)
	a.Record(testEvent(1), nil)
	closeAuditor(t, a)
	waitFor(t, "a TLS syslog frame", func() bool { return len(ls.got()) == 1 })
	if f := parseRFC5424(t, ls.got()[0]); !strings.Contains(f.msg, `"request_id":"01JREQ000001"`) {
		t.Errorf("frame = %+v", f)
	}
}

func TestSyslogSinkRefusesAnUntrustedServer(t *testing.T) {
	srv := httptest.NewTLSServer(nil)
	defer srv.Close()
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: srv.TLS.Certificates})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	sc := SinkConfig{Type: "syslog", Name: "siem", Address: "tls://" + l.Addr().String(), RetryInitial: time.Millisecond, RetryMax: time.Millisecond}
	a, _ := start(t, Config{Sinks: []SinkConfig{sc}, SpoolDir: t.TempDir()}, AlertsConfig{}, nil)
	a.Record(testEvent(1), nil)
	waitFor(t, "a failed delivery", func() bool { return value(t, a.m.failed.WithLabelValues("siem")) > 0 })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	a.Close(ctx)
	if w := value(t, a.m.written.WithLabelValues("siem")); w != 0 {
		t.Errorf("an event went to a server with an untrusted certificate")
	}
}
