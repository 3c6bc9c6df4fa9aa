package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

// step is one thing to try: what it shows, and the one shell line that
// shows it (run by the demo's test exactly as printed).
type step struct {
	title, line string
}

// steps are the demo's story for a running demo.
func steps(r running) []step {
	ca := filepath.Join(r.dir, "ca.pem")
	jwt := filepath.Join(r.dir, "manager.jwt")
	curl := "curl -s --cacert " + ca + " "
	query := r.https + "/services/data/v60.0/query?q=SELECT+Name,MobilePhone,Email+FROM+Contact+LIMIT+2"
	mgr := `-H "Authorization: Bearer $(cat ` + jwt + `)" `
	job := `{"operation":"query","query":"SELECT Id, Name, Email, MobilePhone FROM Contact"}`
	smallJob := `{"operation":"query","query":"SELECT Id, Name, Email FROM Contact LIMIT 500"}`
	mgrKey := "-H 'Authorization: Bearer " + managerKey + "' "
	return []step{
		{"A sales manager queries contacts (Salesforce REST API): phone and email as stored",
			curl + "-H 'Authorization: Bearer " + managerKey + "' '" + query + "'"},
		{"An intern runs the same query: phone and email come back as ****",
			curl + "-H 'Authorization: Bearer " + internKey + "' '" + query + "'"},
		{"The intern tries to delete a contact: 403 in Salesforce's error shape; nothing reaches the CRM",
			curl + "-X DELETE -H 'Authorization: Bearer " + internKey + "' '" + r.https + "/services/data/v60.0/sobjects/Contact/003000000000001AAA'"},
		{"No credential: 401 (plain http works too, for clients that cannot be given the CA)",
			"curl -s -o /dev/null -w '%{http_code}\\n' '" + strings.Replace(query, r.https, r.http, 1) + "'"},
		{"The nightly integration (the manager's API key) exports every contact with Bulk API 2.0; the policy caps exports at 2000 of the CRM's 2500: 2001 lines (CSV header + 2000 rows)",
			"JOB=$(" + curl + mgrKey + "-H 'Content-Type: application/json' -d '" + job + "' '" + r.https + "/services/data/v60.0/jobs/query' | sed -E 's/.*\"id\":\"([^\"]+)\".*/\\1/') && " +
				curl + mgrKey + "\"" + r.https + "/services/data/v60.0/jobs/query/$JOB/results\" | wc -l"},
		{"HR flags li.wei as departing (the admin API, with the demo's admin token)",
			"curl -s -X POST -H 'Authorization: Bearer " + adminToken + "' -d '{\"flag\":\"departing\"}' '" + r.admin + "/admin/subjects/li.wei@example.com/watch'"},
		{"li.wei, signed in with MFA, exports 500 contacts: a departing salesperson's export waits for a sales manager: 403 APPROVAL_REQUIRED names the approval and its page. Open that URL, sign in at the demo IdP as " + approverEmail + " / " + approverPW + ", approve, and run this line again: the export goes through, once",
			curl + mgr + "-H 'Content-Type: application/json' -d '" + smallJob + "' '" + r.https + "/services/data/v60.0/jobs/query'"},
		{"Zoho CRM through the same gateway (path prefix /zoho), with Zoho's own Authorization scheme; the intern's Mobile is masked here too",
			curl + "-H 'Authorization: Zoho-oauthtoken " + internKey + "' '" + r.https + "/zoho/crm/v6/Contacts?fields=Last_Name,Email,Mobile&per_page=2'"},
		{"纷享销客 (fxiaoke) through the same gateway and its built-in profile: the gateway writes its own corpAccessToken, corpId and currentOpenUserId into the body; the intern's mobile numbers come back masked",
			curl + "-H 'Authorization: Bearer " + internKey + "' -H 'Content-Type: application/json' -d '" +
				`{"data":{"dataObjectApiName":"ContactObj","search_query_info":{"offset":0,"limit":10,"filters":[],"fieldProjection":["name","mobile"]}}}` +
				"' '" + r.https + "/fxiaoke/cgi/crm/v2/data/query'"},
		{"A delete through the fxiaoke profile is refused in fxiaoke's own error shape",
			curl + "-H 'Authorization: Bearer " + repKey + "' -H 'Content-Type: application/json' -d '" +
				`{"data":{"dataObjectApiName":"ContactObj","object_data_id":"con001"}}` +
				"' '" + r.https + "/fxiaoke/cgi/crm/v2/data/delete'"},
		{"What the SOC sees: one hash-chained audit event per request; the export's event says it was cut at the cap, and each approval step is an event of its own",
			"grep -c '\"truncated\":true' " + filepath.Join(r.dir, "audit.jsonl") + " && grep -o '\"activity\":\"approval_[a-z]*\"' " + filepath.Join(r.dir, "audit.jsonl") + " | sort | uniq -c; go run ./examples/demo verify " + filepath.Join(r.dir, "audit.jsonl")},
	}
}

func printStory(w io.Writer, r running) {
	ca := filepath.Join(r.dir, "ca.pem")
	fmt.Fprintf(w, `
crmgw demo is running: a sample CRM (Salesforce, Zoho and 纷享销客 APIs), a test IdP and the gateway, on loopback.
  gateway  %s   (plain http: %s)   admin %s (/healthz /readyz /metrics)
  files    %s   (crmgw.yaml, audit.jsonl, ca.pem; removed when the demo stops)
  https    the demo's own CA signed the gateway's certificate; to trust it:
           curl --cacert %s   export REQUESTS_CA_BUNDLE=%s NODE_EXTRA_CA_CERTS=%s
  keys     API keys %s, %s, %s (the demo's only credentials)

Try these from the repository root (Ctrl-C stops the demo):
`, r.https, r.http, r.admin, r.dir, ca, ca, ca, managerKey, repKey, internKey)
	for i, s := range steps(r) {
		fmt.Fprintf(w, "\n# %d. %s\n%s\n", i+1, s.title, s.line)
	}
	fmt.Fprintln(w)
}
