package proxy

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// bulk1Policy allows everything classified; the intern's Contact email and phone and
// the account name are redacted and its exports capped at 50 records.
func bulk1Policy(t *testing.T) string {
	dir := t.TempDir()
	rego := `package crmgw.authz

import rego.v1

intern if "intern" in input.subject.roles

known if input.action.operation != "unknown"

default decision := {"allow": false, "reason": "test: unknown actions are denied", "mask": {}, "max_records": 0}

decision := {"allow": true, "reason": "test: the intern's bulk export is masked and capped",
	"mask": {"Contact.Email": "redact", "Contact.MobilePhone": "redact", "Account.Name": "redact"}, "max_records": 50} if {
	known
	intern
}

decision := {"allow": true, "reason": "test: everything known", "mask": {}, "max_records": 0} if {
	known
	not intern
}
`
	if err := os.WriteFile(filepath.Join(dir, "authz.rego"), []byte(rego), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// bulk1Row is one record of a result, whatever its format.
type bulk1Row struct{ ID, Email, Phone, Account string }

// TestBulk1QueryThroughTheGateway runs Bulk API 1.0 query jobs in each
// content type the way jsforce does (XML jobInfo, X-SFDC-Session, SOQL
// batch, poll, result list, result, close): the owner polls and
// downloads; another caller gets 404 for the job, its batches and its
// results, and the CRM never sees those requests; the intern's result has
// its masked fields masked and is cut at its cap of 50; the manager gets
// every record unmasked.
func TestBulk1QueryThroughTheGateway(t *testing.T) {
	e := newEnv(t, envOptions{policies: bulk1Policy(t)})
	const base = "/services/async/60.0/job"
	const soql = "SELECT Id, Email, MobilePhone, Account.Name FROM Contact"
	for _, ct := range []string{"CSV", "XML", "JSON"} {
		t.Run(ct, func(t *testing.T) {
			call := func(key, method, path, body string, status int) []byte {
				t.Helper()
				ctype := "application/xml; charset=utf-8"
				if ct == "JSON" {
					ctype = "application/json"
				}
				if strings.HasSuffix(path, "/batch") && method == "POST" {
					ctype = "text/csv"
				}
				var rd *strings.Reader
				if body != "" {
					rd = strings.NewReader(body)
				} else {
					rd = strings.NewReader("")
				}
				resp := e.do(method, path, "", rd, "X-SFDC-Session", key, "Content-Type", ctype)
				b := readAll(t, resp)
				if resp.StatusCode != status {
					t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, b, status)
				}
				return b
			}
			create := `<?xml version="1.0" encoding="UTF-8"?><jobInfo xmlns="http://www.force.com/2009/06/asyncapi/dataload">` +
				`<operation>query</operation><object>Contact</object><contentType>` + ct + `</contentType></jobInfo>`
			if ct == "JSON" {
				create = `{"operation":"query","object":"Contact","contentType":"JSON"}`
			}
			run := func(key string) []bulk1Row {
				job := field(t, call(key, "POST", base, create, http.StatusCreated), ct, "id")
				batch := field(t, call(key, "POST", base+"/"+job+"/batch", soql, http.StatusCreated), ct, "id")
				if st := field(t, call(key, "GET", base+"/"+job+"/batch/"+batch, "", http.StatusOK), ct, "state"); st != "Completed" {
					t.Fatalf("batch state %q", st)
				}
				list := call(key, "GET", base+"/"+job+"/batch/"+batch+"/result", "", http.StatusOK)
				result := resultID(t, list, ct)
				rows := parseBulk1Rows(t, call(key, "GET", base+"/"+job+"/batch/"+batch+"/result/"+result, "", http.StatusOK), ct)

				// Another caller: not found for every step, the CRM asked nothing.
				abort := `<jobInfo xmlns="http://www.force.com/2009/06/asyncapi/dataload"><state>Aborted</state></jobInfo>`
				if ct == "JSON" {
					abort = `{"state":"Aborted"}`
				}
				before := len(e.crm.Requests())
				for _, r := range []struct{ method, path, body string }{
					{"GET", base + "/" + job, ""},
					{"POST", base + "/" + job + "/batch", soql},
					{"GET", base + "/" + job + "/batch/" + batch, ""},
					{"GET", base + "/" + job + "/batch/" + batch + "/result", ""},
					{"GET", base + "/" + job + "/batch/" + batch + "/result/" + result, ""},
					{"POST", base + "/" + job, abort},
				} {
					other := repKey
					if key == repKey {
						other = managerKey
					}
					b := call(other, r.method, r.path, r.body, http.StatusNotFound)
					// In the shape the request asked for: a JSON job's
					// client sends Content-Type: application/json, polls
					// included (the batch's SOQL goes as text/csv: XML).
					var er struct {
						Code string `json:"exceptionCode" xml:"exceptionCode"`
					}
					asJSON := ct == "JSON" && !(r.method == "POST" && strings.HasSuffix(r.path, "/batch"))
					var err error
					if asJSON {
						err = json.Unmarshal(b, &er)
					} else {
						err = xml.Unmarshal(b, &er)
					}
					if err != nil || er.Code != "NOT_FOUND" {
						t.Errorf("%s %s by another caller (JSON %v): %s %v", r.method, r.path, asJSON, b, err)
					}
				}
				if n := len(e.crm.Requests()); n != before {
					t.Errorf("the CRM saw %d requests of another caller", n-before)
				}
				closed := `<?xml version="1.0" encoding="UTF-8"?><jobInfo xmlns="http://www.force.com/2009/06/asyncapi/dataload"><state>Closed</state></jobInfo>`
				if ct == "JSON" {
					closed = `{"state":"Closed"}`
				}
				if st := field(t, call(key, "POST", base+"/"+job, closed, http.StatusOK), ct, "state"); st != "Closed" {
					t.Errorf("close: state %q", st)
				}
				return rows
			}
			all := run(managerKey)
			if len(all) != 300 || all[0].Email == "****" || all[0].Email == "" || all[0].Phone == "****" || all[0].Account == "****" {
				t.Fatalf("manager's export: %d rows, first %+v", len(all), all[0])
			}
			capped := run(internKey)
			if len(capped) != 50 {
				t.Errorf("intern's export: %d rows, want the cap of 50", len(capped))
			}
			for i, r := range capped {
				if r.ID != all[i].ID || r.Email != "****" && all[i].Email != "" || r.Phone != "****" && all[i].Phone != "" ||
					r.Account != "****" && all[i].Account != "" {
					t.Fatalf("intern's row %d: %+v (unmasked %+v)", i, r, all[i])
				}
			}
		})
	}
	// The audit event of the intern's capped download says what left.
	found := false
	for _, ev := range e.auditEvents(0) {
		if get(ev, "crm", "operation") == "bulk_result" && get(ev, "crm", "records") == float64(50) &&
			get(ev, "crm", "truncated") == true && get(ev, "crm", "object") == "Contact" {
			found = true
		}
	}
	if !found {
		t.Error("no audit event of a bulk_result of 50 Contact records, truncated")
	}
}

// TestBulk1SessionHeaderIsReplaced: a Bulk 1.0 client's X-SFDC-Session
// is its gateway credential; the CRM gets the gateway's own session in
// its place, and a wrong one is refused.
func TestBulk1SessionHeaderIsReplaced(t *testing.T) {
	e := newEnv(t, envOptions{policies: bulk1Policy(t)})
	resp := e.do("POST", "/services/async/60.0/job", "", strings.NewReader(`{"operation":"query","object":"Contact","contentType":"JSON"}`),
		"X-SFDC-Session", managerKey, "Content-Type", "application/json")
	if b := readAll(t, resp); resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, b)
	}
	rec := e.crm.Requests()
	got := rec[len(rec)-1].Header.Get("X-Sfdc-Session")
	if got != sfToken || strings.Contains(rec[len(rec)-1].Header.Get("Authorization"), managerKey) {
		t.Errorf("the CRM got session %q: the caller's credential must be replaced by the gateway's", got)
	}
	resp = e.do("POST", "/services/async/60.0/job", "", strings.NewReader(`{"operation":"query","object":"Contact"}`),
		"X-SFDC-Session", "not-a-key", "Content-Type", "application/json")
	if b := readAll(t, resp); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a wrong session: %d %s", resp.StatusCode, b)
	}
}

// field reads a top-level member of a jobInfo/batchInfo answer.
func field(t *testing.T, b []byte, ct, name string) string {
	t.Helper()
	if ct == "JSON" {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		s, _ := m[name].(string)
		return s
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	depth := 0
	for {
		tok, err := d.Token()
		if err != nil {
			t.Fatalf("no <%s> in %s", name, b)
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 2 && tk.Name.Local == name {
				var v string
				if err := d.DecodeElement(&v, &tk); err != nil {
					t.Fatal(err)
				}
				return v
			}
		case xml.EndElement:
			depth--
		}
	}
}

func resultID(t *testing.T, b []byte, ct string) string {
	t.Helper()
	if ct == "JSON" {
		var ids []string
		if err := json.Unmarshal(b, &ids); err != nil || len(ids) != 1 {
			t.Fatalf("result list %s: %v", b, err)
		}
		return ids[0]
	}
	var l struct {
		Result []string `xml:"result"`
	}
	if err := xml.Unmarshal(b, &l); err != nil || len(l.Result) != 1 {
		t.Fatalf("result list %s: %v", b, err)
	}
	return l.Result[0]
}

func parseBulk1Rows(t *testing.T, b []byte, ct string) []bulk1Row {
	t.Helper()
	var out []bulk1Row
	switch ct {
	case "CSV":
		recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
		if err != nil || len(recs) == 0 || strings.Join(recs[0], ",") != "Id,Email,MobilePhone,Account.Name" {
			t.Fatalf("CSV result: %v\n%.300s", err, b)
		}
		for _, r := range recs[1:] {
			out = append(out, bulk1Row{r[0], r[1], r[2], r[3]})
		}
	case "JSON":
		var recs []struct {
			Attributes  struct{ Type string }
			ID          string `json:"Id"`
			Email       string
			MobilePhone string
			Account     *struct{ Name string }
		}
		if err := json.Unmarshal(b, &recs); err != nil {
			t.Fatalf("JSON result: %v\n%.300s", err, b)
		}
		for _, r := range recs {
			row := bulk1Row{r.ID, r.Email, r.MobilePhone, ""}
			if r.Account != nil {
				row.Account = r.Account.Name
			}
			out = append(out, row)
		}
	case "XML":
		var qr struct {
			Records []struct {
				Type        string `xml:"type"`
				ID          string `xml:"Id"`
				Email       string
				MobilePhone string
				Account     struct{ Name string }
			} `xml:"records"`
		}
		if err := xml.Unmarshal(b, &qr); err != nil {
			t.Fatalf("XML result: %v\n%.300s", err, b)
		}
		for _, r := range qr.Records {
			out = append(out, bulk1Row{r.ID, r.Email, r.MobilePhone, r.Account.Name})
		}
	}
	return out
}

// TestBulk1DenialInBulk1Shape: a refusal on a Bulk 1.0 path comes in that
// API's error shape, so its clients show the gateway's code: here a batch
// whose SOQL reads another object than its job (unknown, denied).
func TestBulk1DenialInBulk1Shape(t *testing.T) {
	e := newEnv(t, envOptions{policies: bulk1Policy(t)})
	resp := e.do("POST", "/services/async/60.0/job", "", strings.NewReader(`<jobInfo xmlns="http://www.force.com/2009/06/asyncapi/dataload"><operation>query</operation><object>Contact</object><contentType>CSV</contentType></jobInfo>`),
		"X-SFDC-Session", managerKey, "Content-Type", "application/xml")
	b := readAll(t, resp)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, b)
	}
	job := field(t, b, "XML", "id")
	resp = e.do("POST", "/services/async/60.0/job/"+job+"/batch", "", strings.NewReader("SELECT Id, Amount FROM Opportunity"),
		"X-SFDC-Session", managerKey, "Content-Type", "text/csv")
	b = readAll(t, resp)
	var er struct {
		Code string `xml:"exceptionCode"`
		Msg  string `xml:"exceptionMessage"`
	}
	if err := xml.Unmarshal(b, &er); err != nil || resp.StatusCode != http.StatusForbidden || er.Code != "CRMGW_FORBIDDEN" || er.Msg == "" ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/xml") {
		t.Errorf("denied batch: %d %s %v", resp.StatusCode, b, err)
	}
}
