package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// RuleEvaluator evaluates the alert rules query for one input and returns
// its results. *policy.Query satisfies it; each result may be an alert
// object, or a set/array of them (the value of a rule such as
// data.crmgw.alerts.alerts).
type RuleEvaluator interface {
	Eval(ctx context.Context, input any) ([]any, error)
}

// Alert is what alert sinks receive (docs/audit.md "Alerts").
type Alert struct {
	Rule      string          `json:"rule"`
	Severity  string          `json:"severity"`
	Summary   string          `json:"summary"`
	Time      time.Time       `json:"time"`
	RequestID string          `json:"request_id"`
	Event     json.RawMessage `json:"event"`
	// Subject (extension) is the actor uid, client id or source address the
	// alert was deduplicated on.
	Subject string `json:"subject,omitempty"`
}

// alertSender delivers one alert to one destination.
type alertSender interface {
	send(ctx context.Context, a *Alert) error
	close() error
}

type alertItem struct {
	e     *entry
	usage any
}

// alerter evaluates the rules for every chained event in its own goroutine
// and fans the alerts out to the alert sinks.
type alerter struct {
	a     *Auditor
	cfg   AlertsConfig
	rules RuleEvaluator
	q     chan alertItem
	prio  chan alertItem // export, bulk and unknown-outcome events: never skipped
	sinks []*alertRunner
	// skipped counts events not evaluated since the last
	// alert_evaluation_skipped alert; lastSkipAlert is when that was sent.
	skipped       atomic.Int64
	lastSkipAlert time.Time
	done          chan struct{}
	dedup         map[string]time.Time
	denied        *slidingCounter
	nets          *networkMemory
	now           func() time.Time
}

// denialWindow is the window of the in-process denial counter, reported as
// usage.denials["10m"].
const denialWindow = 10 * time.Minute

// mustEvaluate says which events the alert rules never skip: what the SOC
// exists for (exports, bulk changes) and requests cut short by a crash.
func mustEvaluate(ev *Event) bool {
	return ev.Activity == "export" || ev.Activity == "bulk" || ev.CRM.Category == "export" ||
		ev.CRM.Category == "bulk" || ev.Status == StatusUnknown
}

// enqueue is called by the writer. An export/bulk event waits for room in
// its own queue (evaluation is fast next to what it takes to make an
// export); any other event is skipped when the queue is full, counted,
// logged and reported by an alert_evaluation_skipped alert.
func (al *alerter) enqueue(it alertItem) {
	if mustEvaluate(it.e.ev) {
		select {
		case al.prio <- it:
		default:
			al.a.m.recordWaits.Inc()
			al.prio <- it
		}
		return
	}
	select {
	case al.q <- it:
	default:
		al.a.m.alertDropped.Inc()
		al.skipped.Add(1)
		al.a.logDrops("alert-eval-full", "alert evaluation queue full: events not evaluated since the last such line", 1,
			zap.String("request_id", it.e.ev.RequestID))
	}
}

func (al *alerter) run() {
	defer close(al.done)
	tk := time.NewTicker(time.Second)
	defer tk.Stop()
	q, prio := al.q, al.prio
	for q != nil || prio != nil {
		var it alertItem
		var ok bool
		select { // the priority queue first
		case it, ok = <-prio:
			if !ok {
				prio = nil
				continue
			}
		default:
			select {
			case it, ok = <-prio:
				if !ok {
					prio = nil
					continue
				}
			case it, ok = <-q:
				if !ok {
					q = nil
					continue
				}
			case <-tk.C:
				al.reportSkipped(false)
				continue
			}
		}
		al.evaluate(it)
		al.reportSkipped(false)
	}
	al.reportSkipped(true) // what is left is reported before the sinks close
	for _, s := range al.sinks {
		close(s.q)
	}
}

// skippedAlertEvery bounds how often alert_evaluation_skipped is sent.
const skippedAlertEvery = time.Minute

// reportSkipped sends an alert_evaluation_skipped alert to every alert
// sink when events were skipped, at most once a minute (unless final),
// with how many.
func (al *alerter) reportSkipped(final bool) {
	if al.skipped.Load() == 0 {
		return
	}
	now := al.now()
	if !final && !al.lastSkipAlert.IsZero() && now.Sub(al.lastSkipAlert) < skippedAlertEvery {
		return
	}
	n := al.skipped.Swap(0)
	al.lastSkipAlert = now
	r := &Alert{Rule: "alert_evaluation_skipped", Severity: SeverityHigh, Time: now.UTC(), Subject: "crmgw",
		Summary: fmt.Sprintf("%d audit events were not evaluated by the alert rules (evaluation queue full); export and bulk events are always evaluated", n),
		Event:   json.RawMessage("null")}
	al.a.m.alertsFired.WithLabelValues(r.Rule).Inc()
	al.dispatch(r)
}

func (al *alerter) dispatch(r *Alert) {
	for _, s := range al.sinks {
		select {
		case s.q <- r:
		default:
			al.a.m.alertsFailed.WithLabelValues(s.name).Inc()
			al.a.logLimited("alert-queue-"+s.name, "alert sink queue full: alert dropped", zap.String("sink", s.name), zap.String("rule", r.Rule))
		}
	}
}

// evaluate runs the rules for one event and sends what they fire.
func (al *alerter) evaluate(it alertItem) {
	ev := it.e.ev
	var eventObj any
	dec := json.NewDecoder(bytes.NewReader(it.e.line))
	dec.UseNumber()
	if err := dec.Decode(&eventObj); err != nil {
		al.a.m.alertErrors.Inc()
		return
	}
	now := al.now()
	subject := subjectOf(ev)
	usage := usageMap(it.usage)
	// Merge the in-process counters: the larger of what the proxy passed
	// (e.g. shared Redis counters) and what this replica saw.
	if subject != "" {
		n := al.denied.count(subject, now)
		if ev.Status == StatusDenied {
			n = al.denied.add(subject, now)
		}
		denials, _ := usage["denials"].(map[string]any)
		if denials == nil {
			denials = map[string]any{}
		}
		if prev, ok := toInt(denials["10m"]); !ok || prev < int64(n) {
			denials["10m"] = n
		}
		usage["denials"] = denials
	}
	if _, ok := usage["new_network"]; !ok {
		// An application (API key, client-credentials token, mTLS client):
		// the proxy records its id in actor.user.uid as well, so the kind,
		// not an empty uid, says it is not a person.
		usage["new_network"] = ev.Actor.Kind == "client" && ev.Actor.ClientID != "" &&
			al.nets.seen(ev.Actor.ClientID, ev.SrcEndpoint.IP)
	}
	input := map[string]any{"event": eventObj, "usage": usage}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second) // alerting outlives the request
	res, err := al.rules.Eval(ctx, input)
	cancel()
	if err != nil {
		al.a.m.alertErrors.Inc()
		al.a.logLimited("alert-eval", "alert rules evaluation failed", zap.String("request_id", ev.RequestID), zap.Error(err))
		return
	}
	for _, r := range flattenAlerts(res) {
		al.a.m.alertsFired.WithLabelValues(r.Rule).Inc()
		key := r.Rule + "\x00" + subject
		if ev.Approval != nil {
			// Each approval is its own notification: two requests by one
			// subject must both reach the approvers.
			key += "\x00" + ev.Approval.ID
		}
		if last, ok := al.dedup[key]; ok && now.Sub(last) < al.cfg.DedupWindow {
			al.a.m.alertsDedup.WithLabelValues(r.Rule).Inc()
			continue
		}
		al.dedup[key] = now
		r.Time, r.RequestID, r.Event, r.Subject = now.UTC(), ev.RequestID, it.e.line, subject
		al.dispatch(r)
	}
	if len(al.dedup) > 10000 {
		for k, t := range al.dedup {
			if now.Sub(t) >= al.cfg.DedupWindow {
				delete(al.dedup, k)
			}
		}
	}
}

// subjectOf is who an event is about: the user, else the client, else the
// source address.
func subjectOf(ev *Event) string {
	switch {
	case ev.Actor.User.UID != "":
		return ev.Actor.User.UID
	case ev.Actor.ClientID != "":
		return ev.Actor.ClientID
	}
	return ev.SrcEndpoint.IP
}

// usageMap turns whatever the proxy passed as usage into a JSON object
// (a fresh top level, so merging does not touch the caller's value).
func usageMap(u any) map[string]any {
	out := map[string]any{}
	switch v := u.(type) {
	case nil:
	case map[string]any:
		for k, x := range v {
			if m, ok := x.(map[string]any); ok {
				c := make(map[string]any, len(m))
				for k2, y := range m {
					c[k2] = y
				}
				x = c
			}
			out[k] = x
		}
	default:
		b, err := json.Marshal(v)
		if err == nil {
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.UseNumber()
			var m map[string]any
			if dec.Decode(&m) == nil && m != nil {
				out = m
			}
		}
	}
	return out
}

func toInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int64:
		return n, true
	case float64:
		return int64(n), true
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	}
	return 0, false
}

// flattenAlerts reads {rule, severity, summary} objects out of the query
// results, whether they come as objects or as sets/arrays of objects.
func flattenAlerts(res []any) []*Alert {
	var out []*Alert
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case []any:
			for _, y := range x {
				walk(y)
			}
		case map[string]any:
			rule, _ := x["rule"].(string)
			if rule == "" {
				return
			}
			sev, _ := x["severity"].(string)
			sum, _ := x["summary"].(string)
			out = append(out, &Alert{Rule: rule, Severity: sev, Summary: sum})
		}
	}
	for _, r := range res {
		walk(r)
	}
	return out
}

// slidingCounter counts events per key in a sliding window (timestamps
// kept per key, bounded).
type slidingCounter struct {
	window time.Duration
	max    int
	keys   map[string][]time.Time
}

func newSlidingCounter(window time.Duration) *slidingCounter {
	return &slidingCounter{window: window, max: 10000, keys: map[string][]time.Time{}}
}

func (c *slidingCounter) prune(key string, now time.Time) []time.Time {
	ts := c.keys[key]
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= c.window {
		i++
	}
	ts = ts[i:]
	if len(ts) == 0 {
		delete(c.keys, key)
		return nil
	}
	c.keys[key] = ts
	return ts
}

func (c *slidingCounter) count(key string, now time.Time) int { return len(c.prune(key, now)) }

func (c *slidingCounter) add(key string, now time.Time) int {
	ts := c.prune(key, now)
	if len(ts) >= c.max {
		ts = ts[1:]
	}
	if len(c.keys) > 100000 {
		// Bound memory under a flood of distinct subjects: forget the idle.
		for k := range c.keys {
			c.prune(k, now)
		}
	}
	c.keys[key] = append(ts, now)
	return len(c.keys[key])
}

// networkMemory remembers, per API client, the networks (/24 for IPv4,
// /48 for IPv6) it was used from. It is in-process and bounded: it forgets
// everything on restart. Only the alert goroutine uses it.
type networkMemory struct {
	clients map[string]map[netip.Prefix]struct{}
}

const (
	maxNetworksPerClient = 256
	maxClients           = 100000
)

// seen records ip for client and reports whether it is a new network for a
// client already seen from another network. A client's first network is
// not "new": there is nothing to compare with yet.
func (n *networkMemory) seen(client, ip string) bool {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	bits := 24
	if !addr.Unmap().Is4() {
		bits = 48
	}
	p, err := addr.Unmap().Prefix(bits)
	if err != nil {
		return false
	}
	set, ok := n.clients[client]
	if !ok {
		if len(n.clients) >= maxClients {
			return false
		}
		n.clients[client] = map[netip.Prefix]struct{}{p: {}}
		return false
	}
	if _, ok := set[p]; ok {
		return false
	}
	if len(set) < maxNetworksPerClient {
		set[p] = struct{}{}
	}
	return true
}

// alertRunner delivers alerts to one alert sink with retries and backoff.
type alertRunner struct {
	a    *Auditor
	name string
	cfg  SinkConfig
	s    alertSender
	q    chan *Alert
	done chan struct{}
}

// alertAttempts bounds the retries of one alert.
const alertAttempts = 6

func (r *alertRunner) run() {
	defer close(r.done)
	ctx := r.a.abortCtx
	for al := range r.q {
		wait := r.cfg.RetryInitial
		var err error
		for attempt := 1; attempt <= alertAttempts; attempt++ {
			dctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
			err = r.s.send(dctx, al)
			cancel()
			if err == nil || ctx.Err() != nil {
				break
			}
			if _, perm := err.(*permanentError); perm {
				break
			}
			backoff(ctx, &wait, r.cfg.RetryMax)
		}
		if err != nil {
			r.a.m.alertsFailed.WithLabelValues(r.name).Inc()
			r.a.logLimited("alert-fail-"+r.name, "alert delivery failed", zap.String("sink", r.name), zap.String("rule", al.Rule), zap.Error(err))
			continue
		}
		r.a.m.alertsSent.WithLabelValues(r.name).Inc()
	}
}

// newAlertSender builds the destination of one alert sink.
func newAlertSender(cfg SinkConfig, dedup time.Duration) (alertSender, error) {
	switch cfg.Type {
	case "webhook":
		p, err := newHTTPPoster(cfg, "application/json")
		return &webhookAlerts{p: p}, err
	case "slack":
		p, err := newHTTPPoster(cfg, "application/json")
		return &slackAlerts{p: p}, err
	case "alertmanager":
		c := cfg
		if !strings.HasSuffix(strings.TrimRight(c.URL, "/"), "/api/v2/alerts") {
			c.URL = strings.TrimRight(c.URL, "/") + "/api/v2/alerts"
		}
		p, err := newHTTPPoster(c, "application/json")
		return &alertmanagerAlerts{p: p, lifetime: max(dedup, 5*time.Minute)}, err
	case "syslog":
		c, err := newSyslogConn(cfg)
		return &syslogAlerts{c: c, cef: cfg.Format == "cef"}, err
	}
	return nil, fmt.Errorf("audit: unknown alert sink type %q", cfg.Type)
}

// webhookAlerts POSTs the alert object as JSON.
type webhookAlerts struct{ p *httpPoster }

func (w *webhookAlerts) send(ctx context.Context, a *Alert) error {
	b, err := json.Marshal(a)
	if err != nil {
		return &permanentError{err: err}
	}
	return w.p.post(ctx, b)
}

func (w *webhookAlerts) close() error { w.p.client.CloseIdleConnections(); return nil }

// slackAlerts posts to a Slack incoming webhook.
type slackAlerts struct{ p *httpPoster }

// slackMessage is the incoming-webhook payload.
type slackMessage struct {
	Text   string       `json:"text"`
	Blocks []slackBlock `json:"blocks,omitempty"`
}

type slackBlock struct {
	Type string     `json:"type"`
	Text *slackText `json:"text,omitempty"`
}

type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

func (s *slackAlerts) send(ctx context.Context, a *Alert) error {
	text := fmt.Sprintf("[%s] %s: %s (request %s)", strings.ToUpper(a.Severity), a.Rule, a.Summary, a.RequestID)
	detail := fmt.Sprintf("*%s* — %s\n*Severity:* %s  *Subject:* %s\n*Request:* `%s`  *Time:* %s",
		slackEscape(a.Rule), slackEscape(a.Summary), a.Severity, slackEscape(a.Subject), a.RequestID, a.Time.Format(time.RFC3339))
	b, err := json.Marshal(slackMessage{Text: text, Blocks: []slackBlock{{Type: "section", Text: &slackText{Type: "mrkdwn", Text: detail}}}})
	if err != nil {
		return &permanentError{err: err}
	}
	return s.p.post(ctx, b)
}

func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func (s *slackAlerts) close() error { s.p.client.CloseIdleConnections(); return nil }

// alertmanagerAlerts posts to Alertmanager's API v2.
type alertmanagerAlerts struct {
	p        *httpPoster
	lifetime time.Duration
}

// postableAlert mirrors Alertmanager's API v2 postableAlert.
type postableAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     string            `json:"startsAt,omitempty"`
	EndsAt       string            `json:"endsAt,omitempty"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

func (m *alertmanagerAlerts) send(ctx context.Context, a *Alert) error {
	labels := map[string]string{
		"alertname": a.Rule, "rule": a.Rule, "severity": a.Severity, "source": "crmgw",
	}
	if a.Subject != "" {
		labels["subject"] = a.Subject
	}
	pa := postableAlert{
		Labels:      labels,
		Annotations: map[string]string{"summary": a.Summary, "request_id": a.RequestID},
		StartsAt:    a.Time.UTC().Format(time.RFC3339),
		// Resolve on its own once the dedup window (during which repeats
		// are not re-sent) is over.
		EndsAt: a.Time.Add(m.lifetime).UTC().Format(time.RFC3339),
	}
	b, err := json.Marshal([]postableAlert{pa})
	if err != nil {
		return &permanentError{err: err}
	}
	return m.p.post(ctx, b)
}

func (m *alertmanagerAlerts) close() error { m.p.client.CloseIdleConnections(); return nil }

// syslogAlerts sends an alert as one RFC 5424 message (MSGID "alert"),
// with the alert JSON or a CEF record as MSG.
type syslogAlerts struct {
	c   *syslogConn
	cef bool
}

func (s *syslogAlerts) send(ctx context.Context, a *Alert) error {
	var msg []byte
	if s.cef {
		var x cefExt
		x.add("rt", fmt.Sprint(a.Time.UnixMilli()))
		x.add("externalId", a.RequestID)
		x.add("suser", a.Subject)
		x.add("msg", a.Summary)
		msg = fmt.Appendf(nil, "CEF:0|crmgw|crmgw|1|%s|%s|%d|%s", cefHeader(a.Rule), cefHeader(a.Summary), cefSeverity(a.Severity), x.b.String())
	} else {
		var err error
		if msg, err = json.Marshal(a); err != nil {
			return &permanentError{err: err}
		}
	}
	return s.c.write(ctx, [][]byte{s.c.frame(nil, a.Severity, a.Time, "alert", msg)})
}

func (s *syslogAlerts) close() error { return s.c.close() }

var (
	_ alertSender = (*webhookAlerts)(nil)
	_ alertSender = (*slackAlerts)(nil)
	_ alertSender = (*alertmanagerAlerts)(nil)
	_ alertSender = (*syslogAlerts)(nil)
)
