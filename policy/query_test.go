package policy

import (
	"context"
	"encoding/json"
	"path/filepath"
	"sort"
	"testing"

	"go.uber.org/zap/zaptest"
)

const alertRules = `package crmgw.alerts

alerts contains {"rule": "big_export", "severity": "high", "summary": sprintf("%d records exported", [input.event.crm.records])} if {
	input.event.crm.category == "export"
	input.event.crm.records > 1000
}

alerts contains {"rule": "denied", "severity": "low", "summary": "request denied"} if {
	input.event.decision.allow == false
}
`

func TestQueryReturnsTheElementsOfASet(t *testing.T) {
	dir := writePolicy(t, map[string]string{"alerts.rego": alertRules, "authz.rego": allowAll})
	q, err := NewQuery(context.Background(), []string{dir}, "data.crmgw.alerts.alerts", zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()

	event := map[string]any{"event": map[string]any{
		"crm":      map[string]any{"category": "export", "records": 5000},
		"decision": map[string]any{"allow": false},
	}}
	got, err := q.Eval(context.Background(), event)
	if err != nil {
		t.Fatal(err)
	}
	var rules []string
	for _, a := range got {
		m, ok := a.(map[string]any)
		if !ok {
			t.Fatalf("alert %#v is not a map[string]any", a)
		}
		rules = append(rules, m["rule"].(string))
		if m["rule"] == "big_export" && m["summary"] != "5000 records exported" {
			t.Errorf("summary = %v", m["summary"])
		}
	}
	sort.Strings(rules)
	if len(rules) != 2 || rules[0] != "big_export" || rules[1] != "denied" {
		t.Errorf("alerts = %v", rules)
	}

	// A quiet event gives no alerts, not an error.
	got, err = q.Eval(context.Background(), map[string]any{"event": map[string]any{
		"crm": map[string]any{"category": "read", "records": json.Number("3")}, "decision": map[string]any{"allow": true}}})
	if err != nil || len(got) != 0 {
		t.Errorf("quiet event: %v, %v", got, err)
	}
}

func TestQueryOfAnUndefinedRuleIsEmpty(t *testing.T) {
	dir := writePolicy(t, map[string]string{"authz.rego": allowAll})
	q, err := NewQuery(context.Background(), []string{dir}, "data.crmgw.alerts.alerts", zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	got, err := q.Eval(context.Background(), map[string]any{})
	if err != nil || len(got) != 0 {
		t.Errorf("got %v, %v; want nothing", got, err)
	}
}

func TestQueryReloadsLikeTheEngine(t *testing.T) {
	dir := writePolicy(t, map[string]string{"alerts.rego": "package crmgw.alerts\n\nalerts contains \"one\"\n"})
	q, err := NewQuery(context.Background(), []string{dir}, "data.crmgw.alerts.alerts", zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	before := q.Revision()
	writeFile(t, filepath.Join(dir, "alerts.rego"), "package crmgw.alerts\n\nalerts contains \"two\"\n")
	if err := q.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, err := q.Eval(context.Background(), nil)
	if err != nil || len(got) != 1 || got[0] != "two" || q.Revision() == before {
		t.Errorf("after reload: %v, %v, revision %s", got, err, q.Revision())
	}
	writeFile(t, filepath.Join(dir, "alerts.rego"), "package crmgw.alerts\n\nalerts contains x\n")
	if err := q.Reload(context.Background()); err == nil {
		t.Errorf("broken alert rules reloaded without error")
	}
	if got, _ := q.Eval(context.Background(), nil); len(got) != 1 || got[0] != "two" {
		t.Errorf("last good rules not in force: %v", got)
	}
}

func TestNewQueryRejectsABadQuery(t *testing.T) {
	dir := writePolicy(t, map[string]string{"authz.rego": allowAll})
	if _, err := NewQuery(context.Background(), []string{dir}, "data.crmgw[", zaptest.NewLogger(t)); err == nil {
		t.Error("no error for a malformed query")
	}
}
