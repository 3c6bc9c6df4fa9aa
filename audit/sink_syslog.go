package audit

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// syslogFacilities are the RFC 5424 facility codes by name.
var syslogFacilities = map[string]int{
	"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
	"uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11, "ntp": 12, "security": 13, "console": 14,
	"local0": 16, "local1": 17, "local2": 18, "local3": 19, "local4": 20, "local5": 21, "local6": 22, "local7": 23,
}

// syslogSeverity maps an event or alert severity to an RFC 5424 severity.
func syslogSeverity(sev string) int {
	switch sev {
	case SeverityCritical:
		return 2 // critical
	case SeverityHigh:
		return 3 // error
	case SeverityMedium:
		return 4 // warning
	case SeverityLow:
		return 5 // notice
	}
	return 6 // informational
}

// cefSeverity maps a severity to CEF's 0-10 scale.
func cefSeverity(sev string) int {
	switch sev {
	case SeverityCritical:
		return 10
	case SeverityHigh:
		return 8
	case SeverityMedium:
		return 5
	case SeverityLow:
		return 3
	}
	return 1
}

// syslogConn writes RFC 5424 messages over udp (one message per datagram),
// tcp or tls (RFC 6587 octet counting: "<length> <message>"). It
// reconnects on the next write after an error.
type syslogConn struct {
	network, addr string
	tlsConf       *tls.Config
	facility      int
	hostname      string
	pid           string
	timeout       time.Duration
	conn          net.Conn
}

func newSyslogConn(cfg SinkConfig) (*syslogConn, error) {
	network, addr, err := parseSyslogAddress(cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("audit: syslog: %w", err)
	}
	c := &syslogConn{network: network, addr: addr, facility: syslogFacilities[cfg.Facility], timeout: cfg.Timeout}
	if network == "tls" {
		host, _, _ := net.SplitHostPort(addr)
		if c.tlsConf, err = buildTLS(cfg.TLS, host); err != nil {
			return nil, err
		}
	}
	c.pid = strconv.Itoa(os.Getpid())
	c.hostname, _ = os.Hostname()
	if c.hostname == "" {
		c.hostname = "-"
	}
	return c, nil
}

func (c *syslogConn) dial(ctx context.Context) error {
	if c.conn != nil {
		return nil
	}
	d := &net.Dialer{Timeout: c.timeout}
	var err error
	switch c.network {
	case "tls":
		td := &tls.Dialer{NetDialer: d, Config: c.tlsConf}
		c.conn, err = td.DialContext(ctx, "tcp", c.addr)
	default:
		c.conn, err = d.DialContext(ctx, c.network, c.addr)
	}
	if err != nil {
		return fmt.Errorf("syslog %s://%s: %w", c.network, c.addr, err)
	}
	return nil
}

// frame builds one RFC 5424 message: <PRI>1 TIMESTAMP HOST APP PROCID MSGID - MSG.
func (c *syslogConn) frame(buf []byte, sev string, t time.Time, msgID string, msg []byte) []byte {
	buf = append(buf, '<')
	buf = strconv.AppendInt(buf, int64(c.facility*8+syslogSeverity(sev)), 10)
	buf = append(buf, ">1 "...)
	buf = t.UTC().AppendFormat(buf, "2006-01-02T15:04:05.000000Z")
	buf = append(buf, ' ')
	buf = append(buf, c.hostname...)
	buf = append(buf, " crmgw "...)
	buf = append(buf, c.pid...)
	buf = append(buf, ' ')
	buf = append(buf, msgID...)
	buf = append(buf, " - "...)
	return append(buf, msg...)
}

// write sends messages (already framed by frame) in order.
func (c *syslogConn) write(ctx context.Context, msgs [][]byte) error {
	if err := c.dial(ctx); err != nil {
		return err
	}
	deadline := time.Now().Add(c.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	c.conn.SetWriteDeadline(deadline)
	var out []byte
	for _, m := range msgs {
		if c.network == "udp" {
			if len(m) > 65000 {
				m = m[:65000] // a datagram cannot carry more
			}
			if _, err := c.conn.Write(m); err != nil {
				return c.fail(err)
			}
			continue
		}
		out = strconv.AppendInt(out, int64(len(m)), 10)
		out = append(out, ' ')
		out = append(out, m...)
	}
	if len(out) > 0 {
		if _, err := c.conn.Write(out); err != nil {
			return c.fail(err)
		}
	}
	return nil
}

func (c *syslogConn) fail(err error) error {
	c.conn.Close()
	c.conn = nil
	return fmt.Errorf("syslog %s://%s: %w", c.network, c.addr, err)
}

func (c *syslogConn) close() error {
	if c.conn == nil {
		return nil
	}
	err := c.conn.Close()
	c.conn = nil
	return err
}

// syslogSink sends each event as one syslog message whose MSG is the JSON
// line (format json), a CEF record (format cef) or the OCSF event (format
// ocsf).
type syslogSink struct {
	c    *syslogConn
	cef  bool
	ocsf bool
}

func newSyslogSink(cfg SinkConfig) (*syslogSink, error) {
	c, err := newSyslogConn(cfg)
	if err != nil {
		return nil, err
	}
	return &syslogSink{c: c, cef: cfg.Format == "cef", ocsf: cfg.Format == FormatOCSF}, nil
}

func (s *syslogSink) deliver(ctx context.Context, batch []*entry) error {
	msgs := make([][]byte, 0, len(batch))
	for _, e := range batch {
		ev, err := e.event()
		if err != nil {
			return &permanentError{err: fmt.Errorf("spooled line is not an event: %w", err)}
		}
		msg := e.line
		switch {
		case s.cef:
			msg = eventCEF(ev)
		case s.ocsf:
			if msg, err = MarshalOCSF(ev); err != nil {
				return &permanentError{err: fmt.Errorf("event cannot be sent as OCSF: %w", err)}
			}
		}
		msgs = append(msgs, s.c.frame(nil, ev.Severity, ev.Time, "audit", msg))
	}
	return s.c.write(ctx, msgs)
}

func (s *syslogSink) close() error { return s.c.close() }

// cefHeader escapes a CEF header field (| and \).
func cefHeader(s string) string {
	return strings.NewReplacer(`\`, `\\`, `|`, `\|`, "\n", " ", "\r", " ").Replace(s)
}

// cefValue escapes a CEF extension value (\ and =, newlines).
func cefValue(s string) string {
	return strings.NewReplacer(`\`, `\\`, `=`, `\=`, "\n", `\n`, "\r", `\r`).Replace(s)
}

type cefExt struct {
	b strings.Builder
}

// addLabeled adds a custom field with its label (cs1Label=upstream cs1=...)
// when it has a value.
func (x *cefExt) addLabeled(k, label, v string) {
	if v == "" {
		return
	}
	x.add(k+"Label", label)
	x.add(k, v)
}

func (x *cefExt) add(k, v string) {
	if v == "" {
		return
	}
	if x.b.Len() > 0 {
		x.b.WriteByte(' ')
	}
	x.b.WriteString(k)
	x.b.WriteByte('=')
	x.b.WriteString(cefValue(v))
}

// eventCEF renders an event as ArcSight CEF (Sentinel, QRadar):
// CEF:0|crmgw|crmgw|1|<activity>|<name>|<severity 0-10>|<extensions>.
func eventCEF(ev *Event) []byte {
	outcome := ev.Status
	if outcome == "" {
		outcome = "denied"
		if ev.Decision.Allow {
			outcome = "allowed"
		}
	}
	name := "CRM " + ev.Activity
	if ev.CRM.Object != "" {
		name += " " + ev.CRM.Object
	}
	var x cefExt
	x.add("rt", strconv.FormatInt(ev.Time.UnixMilli(), 10))
	x.add("externalId", ev.RequestID)
	x.add("act", ev.Activity)
	x.add("outcome", outcome)
	x.add("suid", ev.Actor.User.UID)
	x.add("suser", ev.Actor.User.Email)
	x.add("src", ev.SrcEndpoint.IP)
	x.add("requestMethod", ev.HTTPRequest.Method)
	x.add("request", ev.HTTPRequest.Path)
	x.add("requestClientApplication", ev.HTTPRequest.UserAgent)
	x.addLabeled("cn1", "records", strconv.FormatInt(ev.CRM.Records, 10))
	x.addLabeled("cn2", "http_status", strconv.Itoa(ev.HTTPResponse.Code))
	x.addLabeled("cn3", "chain_seq", strconv.FormatInt(ev.Chain.Seq, 10))
	x.addLabeled("cs1", "upstream", ev.CRM.Upstream)
	x.addLabeled("cs2", "object", ev.CRM.Object)
	x.addLabeled("cs3", "operation", ev.CRM.Operation)
	x.addLabeled("cs4", "client_id", ev.Actor.ClientID)
	x.addLabeled("cs5", "reason", ev.Decision.Reason)
	x.addLabeled("cs6", "chain_hash", ev.Chain.Hash)
	x.add("out", strconv.FormatInt(ev.HTTPResponse.Bytes, 10))
	return []byte(fmt.Sprintf("CEF:0|crmgw|crmgw|1|%s|%s|%d|%s",
		cefHeader(ev.Activity), cefHeader(name), cefSeverity(ev.Severity), x.b.String()))
}

var _ sink = (*syslogSink)(nil)
