package masking

import (
	"encoding/json"
	"io"
	"strings"
	"testing"
)

// How a caller would get a masked field out under another key, and what
// the plan does about it (docs/masking.md, "Masking by plan"):
//   - an alias (SELECT MobilePhone m ... GROUP BY): the alias is masked as
//     its source field;
//   - an aggregate or function (MAX(MobilePhone) -> expr0, FORMAT(Birthdate)
//     bd): masked as the field it reads;
//   - a key the plan does not name (an alias the classifier missed): masked
//     with the strictest rule of the object (fail closed);
//   - GraphQL aliases of the field, the node, the edges or the connection:
//     followed through the plan's aliases.

var planMask = map[string]string{
	"Contact.MobilePhone":    "partial",
	"Contact.Birthdate":      "redact",
	"*.National_ID__c":       "redact",
	"Contact.Email":          "email",
	"Contacts.Mobile":        "redact",
	"Contacts.Date_of_Birth": "null",
}

func planRewrite(t *testing.T, body string, opts Options) map[string]any {
	t.Helper()
	opts.Rules = mustRules(t, planMask)
	if opts.Vendor == "" {
		opts.Vendor = "salesforce"
	}
	out, _, err := rewrite(t, []byte(body), opts)
	if err != nil && err != io.EOF {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("output not JSON: %v\n%s", err, out)
	}
	return v
}

func TestPlanMasksAggregateAliases(t *testing.T) {
	t.Parallel()
	body := `{"totalSize":1,"done":true,"records":[{"attributes":{"type":"AggregateResult"},` +
		`"LeadSource":"Web","m":"13800001234","expr0":"13899999999","nid":"110101199003077777","cnt":5,"n":"Ann Lee","expr1":"1990-03-07"}]}`
	plan := &Plan{Object: "Contact", Fields: []string{"LeadSource", "MobilePhone", "Name"},
		Aliases: map[string]string{
			"m":     "Contact.MobilePhone",
			"expr0": "MAX(Contact.MobilePhone)",
			"nid":   "MIN(Contact.National_ID__c)",
			"cnt":   "COUNT(Contact.Id)",
			"n":     "Contact.Name",
			// expr1 (MAX(Birthdate)) is missing from the plan: unattributable.
		}}
	rec := firstRecord

	r := rec(planRewrite(t, body, Options{}))
	if r["m"] != "13800001234" {
		t.Fatalf("without a plan the alias was masked (%v): the test no longer shows the leak", r["m"])
	}

	r = rec(planRewrite(t, body, Options{Plan: plan}))
	want := map[string]any{
		"LeadSource": "Web", "m": "*******1234", "expr0": "*******9999", "nid": "****",
		"cnt": float64(5), "n": "Ann Lee",
		"expr1": "****", // the strictest rule of Contact
	}
	for k, w := range want {
		if r[k] != w {
			t.Errorf("%s = %v, want %v", k, r[k], w)
		}
	}
}

func TestPlanMasksFunctionAliasesAndUnknownKeysOfTheObject(t *testing.T) {
	t.Parallel()
	body := `{"totalSize":1,"done":true,"records":[{"attributes":{"type":"Contact"},` +
		`"Id":"003A","bd":"7 March 1990","Name":"Ann Lee","Sneaky":"110101199003077777",` +
		`"Account":{"attributes":{"type":"Account"},"Name":"Acme","Phone":"+86 10 5555 0101"}}]}`
	plan := &Plan{Object: "Contact", Fields: []string{"Id", "Birthdate", "Name", "Account.Name", "Account.Phone"},
		Aliases: map[string]string{"bd": "FORMAT(Contact.Birthdate)"}}
	v := planRewrite(t, body, Options{Plan: plan})
	r := firstRecord(v)
	if r["bd"] != "****" || r["Id"] != "003A" || r["Name"] != "Ann Lee" || r["Sneaky"] != "****" {
		t.Errorf("record %v: want bd and Sneaky redacted, Id and Name kept", r)
	}
	if acc := r["Account"].(map[string]any); acc["Name"] != "Acme" || acc["Phone"] != "+86 10 5555 0101" {
		t.Errorf("related Account %v: its own rules apply (none), not Contact's", acc)
	}

	// FIELDS(ALL): every field may come back; only named rules apply.
	plan.AllFields = true
	r = firstRecord(planRewrite(t, body, Options{Plan: plan}))
	if r["Sneaky"] != "110101199003077777" || r["bd"] != "****" {
		t.Errorf("with all fields: %v", r)
	}
}

func TestPlanFollowsGraphQLAliases(t *testing.T) {
	t.Parallel()
	body := `{"data":{"uiapi":{"query":{"c":{"e":[{"n":{"Id":"003A","m":{"value":"13800001234"},"Name":{"value":"Ann"}}}],"totalCount":1}}}}}`
	plan := &Plan{Object: "Contact", Fields: []string{"Id", "MobilePhone", "Name"},
		Aliases: map[string]string{"c": "Contact", "e": "edges", "n": "node", "m": "Contact.MobilePhone"}}
	out, st, err := rewrite(t, []byte(body), Options{Vendor: "salesforce", Kind: "graphql", Rules: mustRules(t, planMask), Plan: plan})
	if err != nil && err != io.EOF {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "13800001234") || !strings.Contains(string(out), "*******1234") {
		t.Errorf("aliased GraphQL phone not masked: %s", out)
	}
	if st.Records != 1 {
		t.Errorf("records counted %d through aliased edges, want 1", st.Records)
	}
	if !strings.Contains(string(out), `"Ann"`) {
		t.Errorf("unmasked field lost: %s", out)
	}

	// Zoho: data.Records.{Module}._data[]
	zbody := `{"data":{"R":{"k":{"d":[{"id":"1","mob":{"value":"13800001234"},"Last_Name":{"value":"Lee"}}]}}}}`
	zplan := &Plan{Object: "Contacts", Fields: []string{"id", "Mobile", "Last_Name"},
		Aliases: map[string]string{"R": "Records", "k": "Contacts", "d": "_data", "mob": "Contacts.Mobile"}}
	out, _, err = rewrite(t, []byte(zbody), Options{Vendor: "zoho", Kind: "graphql", Rules: mustRules(t, planMask), Plan: zplan})
	if err != nil && err != io.EOF {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "13800001234") || !strings.Contains(string(out), `"Lee"`) {
		t.Errorf("Zoho GraphQL aliases: %s", out)
	}
}

// TestErrorBodyRecordsAreMasked: a DUPLICATES_DETECTED error carries the
// matching records; they are masked by their attributes.type like any
// record.
func TestErrorBodyRecordsAreMasked(t *testing.T) {
	t.Parallel()
	body := `[{"duplicateResult":{"allowSave":false,"duplicateRule":"Standard_Rule_for_Contacts","duplicateRuleEntityType":"Contact",` +
		`"errorMessage":"You're creating a duplicate record.","matchResults":[{"entityType":"Contact","errors":[],"matchEngine":"FuzzyMatchEngine",` +
		`"matchRecords":[{"additionalInformation":[],"fieldDiffs":[],"matchConfidence":100.0,"record":{"attributes":{"type":"Contact",` +
		`"url":"/services/data/v60.0/sobjects/Contact/003A"},"Id":"003A","Email":"ann.lee@customer-corp.cn","MobilePhone":"13800001234"}}],` +
		`"rule":"Standard_Contact_Match_Rule_v1_1","size":1,"success":true}]},"errorCode":"DUPLICATES_DETECTED",` +
		`"message":"You're creating a duplicate record. We recommend you use an existing record instead."}]`
	out, st, err := rewrite(t, []byte(body), Options{Vendor: "salesforce", Kind: "error", Rules: mustRules(t, planMask)})
	if err != nil && err != io.EOF {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "13800001234") || strings.Contains(string(out), "ann.lee@") {
		t.Errorf("record inside the error body not masked: %s", out)
	}
	if !strings.Contains(string(out), "DUPLICATES_DETECTED") || !json.Valid(out) {
		t.Errorf("error body damaged: %s", out)
	}
	if st.Records != 0 {
		t.Errorf("an error body counted %d records", st.Records)
	}
}

func TestFieldRefs(t *testing.T) {
	for expr, want := range map[string]string{
		"MAX(Contact.MobilePhone)":                    "Contact.MobilePhone",
		"Contact.Email":                               "Contact.Email",
		"FORMAT(convertCurrency(Opportunity.Amount))": "Opportunity.Amount",
		"CONCAT(Contact.A__c, 'x.y', Contact.B__c)":   "Contact.A__c Contact.B__c",
		"COUNT()": "",
	} {
		if got := strings.Join(fieldRefs(expr), " "); got != want {
			t.Errorf("fieldRefs(%q) = %q, want %q", expr, got, want)
		}
	}
}

func firstRecord(v map[string]any) map[string]any {
	return v["records"].([]any)[0].(map[string]any)
}

// fuzzPlan is a plan with every kind of alias, for the fuzz targets.
var fuzzPlan = &Plan{Object: "Contact", Fields: []string{"Id", "LeadSource", "Account.Name"},
	Aliases: map[string]string{"m": "Contact.MobilePhone", "expr0": "MAX(Contact.Email)", "cnt": "COUNT(Contact.Id)",
		"c": "Contact", "e": "edges", "n": "node"}}

// FuzzPlanKeys: whatever keys an AggregateResult row or a Contact record
// carries, a value under a key the plan does not attribute to an unmasked
// field never leaves as it was.
func FuzzPlanKeys(f *testing.F) {
	f.Add("m", "expr1", "Name", byte(0))
	f.Add("LeadSource", "cnt", "X", byte(1))
	f.Add("attributes", "Id", "expr0", byte(2))
	rules := mustRules(f, planMask)
	// The keys fuzzPlan attributes to unmasked fields, per record type:
	// aggregate rows carry the select list's last segments and aliases;
	// Contact records its first segments (and dotted paths) and aliases.
	unmasked := map[string]map[string]bool{
		"AggregateResult": {"id": true, "leadsource": true, "name": true, "cnt": true},
		"Contact":         {"id": true, "leadsource": true, "account": true, "account.name": true, "cnt": true},
		// (an aggregate row's "id" is known only when selected: it is)
	}
	f.Fuzz(func(t *testing.T, k1, k2, k3 string, sel byte) {
		typ := "AggregateResult"
		if sel&1 == 1 {
			typ = "Contact"
		}
		keys := []string{k1, k2, k3}
		var b strings.Builder
		b.WriteString(`{"totalSize":1,"done":true,"records":[{"attributes":{"type":"` + typ + `"}`)
		seen := map[string]bool{"attributes": true}
		for i, k := range keys {
			kb, _ := json.Marshal(k)
			if seen[strings.ToLower(k)] || !json.Valid(kb) {
				continue
			}
			seen[strings.ToLower(k)] = true
			b.WriteString("," + string(kb) + `:"SECRET` + string(rune('0'+i)) + `value"`)
		}
		b.WriteString("]}")
		body := b.String()
		body = body[:len(body)-2] + "}]}"
		out, _, err := rewrite(t, []byte(body), Options{Vendor: "salesforce", Rules: rules, Plan: fuzzPlan})
		if err != nil && err != io.EOF {
			t.Fatalf("%v\n%s", err, body)
		}
		if !json.Valid(out) {
			t.Fatalf("invalid output\n%s\n->\n%s", body, out)
		}
		var doc struct{ Records []map[string]any }
		if err := json.Unmarshal(out, &doc); err != nil || len(doc.Records) != 1 {
			t.Fatalf("output %s: %v", out, err)
		}
		for k, v := range doc.Records[0] {
			known := unmasked[typ][strings.ToLower(k)]
			if s, ok := v.(string); ok && strings.Contains(s, "SECRET") && !known {
				t.Fatalf("%s record: key %q left as %q\n%s", typ, k, s, out)
			}
		}
	})
}

func TestPlanCoversEveryObjectOfAMultiObjectAnswer(t *testing.T) {
	t.Parallel()
	body := `{"data":{"uiapi":{"query":{"Contact":{"edges":[{"node":{"Id":"003A","m":{"value":"13800001234"}}}]},` +
		`"Lead":{"edges":[{"node":{"Id":"2","x":{"value":"13900001111"},"Company":{"value":"Acme"}}}]}}}}}`
	plan := &Plan{Object: "*", Objects: []PlanObject{
		{Object: "Contact", Fields: []string{"MobilePhone"}}, // Id comes back unselected
		{Object: "Lead", Fields: []string{"Id", "MobilePhone", "Company"}},
	}}
	out, st, err := rewrite(t, []byte(body), Options{Vendor: "salesforce", Kind: "graphql", Rules: mustRules(t, planMask), Plan: plan})
	if err != nil && err != io.EOF {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "13800001234") || strings.Contains(string(out), "13900001111") || !strings.Contains(string(out), `"Acme"`) ||
		!strings.Contains(string(out), `"003A"`) {
		t.Errorf("unattributed keys of both objects must be masked, known ones kept: %s", out)
	}
	if st.Records != 2 {
		t.Errorf("records %d, want 2", st.Records)
	}
}

// TestPlanFindsGraphQLRecordsUnderUnknownAliases: edges and node renamed
// by aliases the plan does not list (or lists for another level) are still
// found, typed and masked.
func TestPlanFindsGraphQLRecordsUnderUnknownAliases(t *testing.T) {
	t.Parallel()
	body := `{"data":{"uiapi":{"query":{"Contact":{"x":[{"cursor":"abc","n":{"Id":"003A","MobilePhone":{"value":"13800001234"}}}],"pageInfo":{"hasNextPage":false}}}}}}`
	plan := &Plan{Object: "Contact", Fields: []string{"Id", "MobilePhone"}, Aliases: map[string]string{"n": "Contact.Name"}}
	out, st, err := rewrite(t, []byte(body), Options{Vendor: "salesforce", Kind: "graphql", Rules: mustRules(t, planMask), Plan: plan})
	if err != nil && err != io.EOF {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "13800001234") || st.Records != 1 || !strings.Contains(string(out), `"cursor":"abc"`) {
		t.Errorf("records %d: %s", st.Records, out)
	}
}

// TestGraphQLAggregatesAreMasked: uiapi { aggregate { Contact(groupBy: ...)
// { edges { node { aggregate { MobilePhone { max { value } } } } } } } }
// answers the aggregated field under its function: masked as the field.
func TestGraphQLAggregatesAreMasked(t *testing.T) {
	t.Parallel()
	body := `{"data":{"uiapi":{"aggregate":{"Contact":{"edges":[{"node":{"aggregate":{` +
		`"LeadSource":{"value":"Web"},"MobilePhone":{"max":{"value":"13800001234"},"count":{"value":5}}}}}]}}}}}`
	for _, plan := range []*Plan{nil, {Object: "Contact", Fields: []string{"LeadSource", "MobilePhone"}}} {
		out, _, err := rewrite(t, []byte(body), Options{Vendor: "salesforce", Kind: "graphql", Rules: mustRules(t, planMask), Plan: plan})
		if err != nil && err != io.EOF {
			t.Fatal(err)
		}
		if strings.Contains(string(out), "13800001234") || !strings.Contains(string(out), `"Web"`) || !json.Valid(out) {
			t.Errorf("plan %v: %s", plan != nil, out)
		}
	}
}
