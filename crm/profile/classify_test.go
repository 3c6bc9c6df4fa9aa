package profile

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/crmgw/crmgw/crm"
	"github.com/crmgw/crmgw/internal/jsonptr"
)

func classifyWith(t *testing.T, name, method, path, body string) (crm.Result, error) {
	t.Helper()
	p, err := Load(name)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := crm.NewClassifier("generic", crm.Options{Profile: NewClassifier(p)})
	if err != nil {
		t.Fatal(err)
	}
	return cl.Classify(context.Background(), crm.Request{Method: method, Path: path, Body: []byte(body), Subject: "s"})
}

// TestBuiltinRequestToAction: table of requests to the built-in profiles
// and the action (or refusal) each must give, including bodies that try
// to name a second object or smuggle their own token.
func TestBuiltinRequestToAction(t *testing.T) {
	const fxq = "/cgi/crm/v2/data/query"
	const kdq = "/k3cloud/Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.ExecuteBillQuery.common.kdsvc"
	const kdv = "/k3cloud/Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.View.common.kdsvc"
	cases := []struct {
		name, profile, method, path, body string
		op, object                        string
		rejected                          bool
		check                             func(t *testing.T, r crm.Result)
	}{
		{name: "fx query", profile: "fxiaoke", method: "POST", path: fxq,
			body: `{"data":{"dataObjectApiName":"ContactObj","search_query_info":{"filters":[{"field_name":"mobile","field_values":["1"],"operator":"EQ"}]}}}`,
			op:   "query", object: "ContactObj", check: func(t *testing.T, r crm.Result) {
				if !r.Action.AllFields {
					t.Error("no projection must mean all fields")
				}
				if got := r.Action.FieldRoles["ContactObj.mobile"]; len(got) != 1 || got[0] != "filter" {
					t.Errorf("filter role: %v", r.Action.FieldRoles)
				}
			}},
		{name: "fx custom object path is case-insensitive", profile: "fxiaoke", method: "POST", path: "/CGI/crm/custom/v2/data/query",
			body: `{"data":{"dataObjectApiName":"Lead__c"}}`, op: "query", object: "Lead__c"},
		{name: "fx get", profile: "fxiaoke", method: "POST", path: "/cgi/crm/v2/data/get",
			body: `{"data":{"dataObjectApiName":"AccountObj","objectDataId":"acc001"}}`, op: "read", object: "AccountObj",
			check: func(t *testing.T, r crm.Result) {
				if r.Action.RecordID != "acc001" {
					t.Errorf("record id %q", r.Action.RecordID)
				}
			}},
		{name: "fx create names two objects", profile: "fxiaoke", method: "POST", path: "/cgi/crm/v2/data/create",
			body: `{"data":{"dataObjectApiName":"AccountObj","object_data":{"dataObjectApiName":"ContactObj"}}}`, rejected: true},
		{name: "fx two record ids", profile: "fxiaoke", method: "POST", path: "/cgi/crm/v2/data/get",
			body: `{"data":{"dataObjectApiName":"AccountObj","objectDataId":["a","b"]}}`, rejected: true},
		{name: "fx object as object", profile: "fxiaoke", method: "POST", path: fxq,
			body: `{"data":{"dataObjectApiName":{"a":"AccountObj"}}}`, rejected: true},
		{name: "fx no object", profile: "fxiaoke", method: "POST", path: fxq, body: `{"data":{}}`, rejected: true},
		{name: "fx trailing second document", profile: "fxiaoke", method: "POST", path: fxq,
			body: `{"data":{"dataObjectApiName":"AccountObj"}} {"data":{"dataObjectApiName":"ContactObj"}}`, rejected: true},
		{name: "fx smuggled token in a look-alike member is removed", profile: "fxiaoke", method: "POST", path: fxq,
			body: `{"CorpAccessToken":"mine","current_open_user_id":"FSUID_ADMIN","data":{"dataObjectApiName":"AccountObj"}}`,
			op:   "query", object: "AccountObj", check: func(t *testing.T, r crm.Result) {
				if strings.Contains(string(r.Body), "mine") || strings.Contains(string(r.Body), "FSUID_ADMIN") {
					t.Errorf("caller's credential kept: %s", r.Body)
				}
			}},
		{name: "fx GET is unknown", profile: "fxiaoke", method: "GET", path: fxq, op: "unknown"},
		{name: "kd query with data as a string", profile: "kingdee", method: "POST", path: kdq,
			body: `{"data":"{\"FormId\":\"BD_Customer\",\"FieldKeys\":\"FTel,FNumber\",\"OrderString\":\"FName desc\"}"}`,
			op:   "query", object: "BD_Customer", check: func(t *testing.T, r crm.Result) {
				if strings.Join(r.Response.Columns, ",") != "FTel,FNumber" || r.Response.Kind != "rows" {
					t.Errorf("columns %v kind %s", r.Response.Columns, r.Response.Kind)
				}
				if got := r.Action.FieldRoles["BD_Customer.FName"]; len(got) != 1 || got[0] != "sort" {
					t.Errorf("sort role: %v", r.Action.FieldRoles)
				}
			}},
		{name: "kd filter names the masked field", profile: "kingdee", method: "POST", path: kdq,
			body: `{"data":{"FormId":"BD_Customer","FieldKeys":"FNumber","FilterString":"FTel like '138%' and FName = 'x'"}}`,
			op:   "query", object: "BD_Customer", check: func(t *testing.T, r crm.Result) {
				if got := r.Action.FieldRoles["BD_Customer.FTel"]; len(got) != 1 || got[0] != "filter" {
					t.Errorf("FTel must be a filter field: %v", r.Action.FieldRoles)
				}
				if _, ok := r.Action.FieldRoles["BD_Customer.138%"]; ok {
					t.Error("a quoted value taken as a field")
				}
			}},
		{name: "kd FieldKeys with an expression", profile: "kingdee", method: "POST", path: kdq,
			body: `{"data":{"FormId":"BD_Customer","FieldKeys":"FNumber,FTel AS FNote"}}`, rejected: true},
		{name: "fx projection with a space", profile: "fxiaoke", method: "POST", path: fxq,
			body: `{"data":{"dataObjectApiName":"AccountObj","search_query_info":{"fieldProjection":["tel x"]}}}`, rejected: true},
		{name: "kd data string that is not JSON", profile: "kingdee", method: "POST", path: kdq, body: `{"data":"{FormId:BD_Customer"}`, rejected: true},
		{name: "kd view names two forms", profile: "kingdee", method: "POST", path: kdv,
			body: `{"formid":"BD_Customer","data":{"FormId":"BD_Supplier"}}`, rejected: true},
		{name: "kd duplicate FieldKeys member", profile: "kingdee", method: "POST", path: kdq,
			body: `{"data":{"FormId":"BD_Customer","FieldKeys":"FNumber","FieldKeys":"FTel"}}`, rejected: true},
		{name: "kd login through the gateway is unknown", profile: "kingdee", method: "POST",
			path: "/k3cloud/Kingdee.BOS.WebApi.ServicesStub.AuthService.ValidateUser.common.kdsvc", body: `{"acctid":"x"}`, op: "unknown"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := classifyWith(t, c.profile, c.method, c.path, c.body)
			if c.rejected {
				if !errors.Is(err, crm.ErrRejected) {
					t.Fatalf("want rejected, got %v %+v", err, r.Action)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(r.Action.Operation) != c.op || (c.object != "" && r.Action.Object != c.object) {
				t.Fatalf("got %s %s", r.Action.Operation, r.Action.Object)
			}
			if c.check != nil {
				c.check(t, r)
			}
		})
	}
}

// TestParseErrorsNameFileAndLine: schema errors carry file:line.
func TestParseErrorsNameFileAndLine(t *testing.T) {
	_, err := Parse("p.yaml", []byte("name: x\nerror: {body: '{\"m\": \"{message}\"}'}\ncredential: {place: [{header: A, value: t}]}\nendpoints:\n  - name: e\n    match: {method: GET, path: /x, bogus: 1}\n"))
	if err == nil || !strings.Contains(err.Error(), `p.yaml:6: unknown key "bogus"`) {
		t.Fatalf("got %v", err)
	}
}

// FuzzMatchPath: the matcher never panics, and a match only binds
// parameters to non-empty segments without '/'.
func FuzzMatchPath(f *testing.F) {
	for _, s := range []string{"/cgi/crm/v2/data/query", "/api/{object}/{id}", "/a//b", "/", "/{x}"} {
		f.Add(s, "/cgi/crm/v2/data/query")
		f.Add(s, "/api/Account/001")
	}
	f.Fuzz(func(t *testing.T, tmpl, path string) {
		segs, err := parseTemplate(tmpl)
		if err != nil {
			return
		}
		params, ok := matchPath(segs, path)
		if !ok {
			return
		}
		for k, v := range params {
			if v == "" || strings.Contains(v, "/") {
				t.Fatalf("param %s bound to %q", k, v)
			}
		}
	})
}

// FuzzBodyPointer: parsing and pointer reads never panic; Rewrite either
// fails or yields valid JSON without the removed member.
func FuzzBodyPointer(f *testing.F) {
	f.Add(`{"corpAccessToken":"x","data":{"dataObjectApiName":"AccountObj"}}`, "/data/dataObjectApiName")
	f.Add(`{"a":[1,{"b~/":2}]}`, "/a/1/b~0~1")
	f.Add(`{"data":"{\"FormId\":\"X\"}"}`, "/data")
	f.Fuzz(func(t *testing.T, body, ptr string) {
		doc, err := jsonptr.Parse([]byte(body))
		if err != nil || !jsonptr.Valid(ptr) {
			return
		}
		_, _ = jsonptr.Get(doc, ptr)
		out, err := jsonptr.Rewrite([]byte(body), []string{"/corpAccessToken"}, nil)
		if err != nil {
			return
		}
		d2, err := jsonptr.Parse(out)
		if err != nil {
			t.Fatalf("rewrite made invalid JSON: %v: %s", err, out)
		}
		if m, ok := d2.(map[string]any); ok {
			for k := range m {
				if jsonptr.Fold(k) == "corpaccesstoken" {
					t.Fatalf("credential member kept: %s", out)
				}
			}
		}
	})
}

// TestSignedSchemeValidation: a signed-header scheme must carry
// {signature} in a header and use only known placeholders.
func TestSignedSchemeValidation(t *testing.T) {
	base := "name: x\nerror: {body: '{\"m\": \"{message}\"}'}\ncredential:\n  signed:\n    key: \"{param.secret}\"\n    string_to_sign: \"{method}\\n{path}\\n{timestamp}\"\n    encoding: base64\n    headers: {X-Sig: \"%s\"}\nendpoints:\n  - name: e\n    match: {method: GET, path: /x}\n    action: {operation: read, category: read, object: {value: X}}\n    response: {}\n"
	if _, err := Parse("ok.yaml", []byte(strings.Replace(base, "%s", "{signature}", 1))); err != nil {
		t.Fatalf("valid scheme refused: %v", err)
	}
	_, err := Parse("bad.yaml", []byte(strings.Replace(base, "%s", "{timestamp}", 1)))
	if err == nil || !strings.Contains(err.Error(), "bad.yaml:4: credential.signed.headers: one header must carry {signature}") {
		t.Errorf("no signature header: %v", err)
	}
	_, err = Parse("bad.yaml", []byte(strings.Replace(base, "%s", "{signature}{secret}", 1)))
	if err == nil || !strings.Contains(err.Error(), "unknown placeholder {secret}") {
		t.Errorf("unknown placeholder: %v", err)
	}
}
