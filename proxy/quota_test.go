package proxy

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// startRedisServer starts a redis-server of the test's own on a free port
// (as ratelimit's tests do) and returns its address.
func startRedisServer(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is required: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := "127.0.0.1:" + strconv.Itoa(port)
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatal("redis-server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// quotaStores are the ratelimit sections the quota tests run against.
func quotaStores(t *testing.T, quotas string) map[string]string {
	return map[string]string{
		"memory": "ratelimit:\n  store: memory\n" + quotas,
		"redis":  fmt.Sprintf("ratelimit:\n  store: redis\n  timeout: 2s\n  redis: {url: \"redis://%s/0\", read_timeout: 2s}\n%s", startRedisServer(t), quotas),
	}
}

// TestConcurrentExportsStayWithinTheQuota: 10 concurrent 120-record
// queries against a 300-record quota deliver at most 300 records in
// total, whichever store holds the quota. Before reservations each saw
// the whole quota left and all 10 were answered in full (1200).
func TestConcurrentExportsStayWithinTheQuota(t *testing.T) {
	// reserve_max 150: a query of unknown size (the policy sets no cap)
	// reserves at most 150, so two fit at once.
	for name, limits := range quotaStores(t, "  reserve_max: 150\n  quotas:\n    - {name: queries, key: subject, records: 300, window: 24h, operations: [query]}\n") {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, envOptions{limits: limits})
			path := "/services/data/v60.0/query?q=" + url.QueryEscape("SELECT Id, Name FROM Contact LIMIT 120")
			var delivered, ok, limited atomic.Int64
			var wg sync.WaitGroup
			for i := 0; i < 10; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					resp := e.do("GET", path, bearer(repKey), nil)
					b := readAll(t, resp)
					switch resp.StatusCode {
					case 200:
						var doc struct{ Records []any }
						if err := json.Unmarshal(b, &doc); err != nil {
							t.Errorf("capped body is not JSON: %v", err)
							return
						}
						ok.Add(1)
						delivered.Add(int64(len(doc.Records)))
					case 429:
						limited.Add(1)
					default:
						t.Errorf("status %d: %s", resp.StatusCode, b)
					}
				}()
			}
			wg.Wait()
			if d := delivered.Load(); d > 300 {
				t.Fatalf("10 concurrent queries delivered %d records against a quota of 300", d)
			}
			if d := delivered.Load(); d < 240 {
				// Reservations are given back: at least two full answers
				// fit, whatever the interleaving.
				t.Errorf("delivered only %d records (%d answered, %d refused)", d, ok.Load(), limited.Load())
			}
			evs := e.auditEvents(10)
			var audited float64
			for _, ev := range evs {
				if n, ok := get(ev, "crm", "records").(float64); ok {
					audited += n
				}
			}
			if audited != float64(delivered.Load()) {
				t.Errorf("audit counts %v records, the callers got %d", audited, delivered.Load())
			}
			// Whatever was not delivered was given back: the next query
			// gets exactly the rest.
			rest := 300 - delivered.Load()
			resp := e.do("GET", "/services/data/v60.0/query?q="+url.QueryEscape("SELECT Id FROM Contact LIMIT 300"), bearer(repKey), nil)
			b := readAll(t, resp)
			if rest == 0 {
				if resp.StatusCode != 429 {
					t.Errorf("quota used up, status %d", resp.StatusCode)
				}
				return
			}
			var doc struct{ Records []any }
			_ = json.Unmarshal(b, &doc)
			if resp.StatusCode != 200 || int64(len(doc.Records)) != rest {
				t.Errorf("after the burst: status %d, %d records, want the %d left", resp.StatusCode, len(doc.Records), rest)
			}
		})
	}
}

// TestConcurrentBulkDownloadsStayWithinTheQuota: 10 parallel downloads of
// a Bulk 2.0 result page (120 rows each) against an export quota of 300
// deliver at most 300 rows, memory and Redis.
func TestConcurrentBulkDownloadsStayWithinTheQuota(t *testing.T) {
	for name, limits := range quotaStores(t, "  reserve_max: 150\n  quotas:\n    - {name: exports, key: subject, records: 300, window: 24h, categories: [export]}\n") {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, envOptions{limits: limits})
			resp := e.do("POST", "/services/data/v61.0/jobs/query", bearer(managerKey),
				strings.NewReader(`{"operation":"query","query":"SELECT Id, Name FROM Contact"}`), "Content-Type", "application/json")
			b := readAll(t, resp)
			var job struct{ ID string }
			if err := json.Unmarshal(b, &job); err != nil || job.ID == "" || resp.StatusCode != 200 {
				t.Fatalf("job: %d %s", resp.StatusCode, b)
			}
			var delivered atomic.Int64
			var wg sync.WaitGroup
			for i := 0; i < 10; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					resp := e.do("GET", "/services/data/v61.0/jobs/query/"+job.ID+"/results?maxRecords=120", bearer(managerKey), nil)
					b := readAll(t, resp)
					switch resp.StatusCode {
					case 200:
						rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
						if err != nil || len(rows) == 0 {
							t.Errorf("not CSV: %v", err)
							return
						}
						delivered.Add(int64(len(rows) - 1))
					case 429:
					default:
						t.Errorf("status %d: %s", resp.StatusCode, b)
					}
				}()
			}
			wg.Wait()
			if d := delivered.Load(); d > 300 || d < 240 {
				t.Errorf("10 parallel downloads delivered %d rows against a quota of 300 (want 240..300)", d)
			}
		})
	}
}

// capPolicy is a policy directory whose decision allows everything with a
// record cap of 150: real Rego, evaluated by the real engine.
func capPolicy(t *testing.T) string {
	dir := t.TempDir()
	rego := `package crmgw.authz

import rego.v1

decision := {"allow": true, "reason": "test: everything, 150 records per export", "mask": {}, "max_records": 150}
`
	if err := os.WriteFile(filepath.Join(dir, "authz.rego"), []byte(rego), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestCapHoldsAcrossPages: max_records (150) bounds a whole export, not a
// page: a REST query followed by its locator (also with a forged offset),
// Bulk 2.0 result pages, and Zoho page tokens each deliver at most 150
// records in total, and the audit event of the cut page says truncated.
func TestCapHoldsAcrossPages(t *testing.T) {
	for name, limits := range quotaStores(t, "") {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, envOptions{limits: limits, policies: capPolicy(t)})

			t.Run("REST query locator", func(t *testing.T) {
				type page struct {
					Done           bool
					NextRecordsURL string `json:"nextRecordsUrl"`
					Records        []any
				}
				fetch := func(path string) (int, page) {
					resp := e.do("GET", path, bearer(repKey), nil, "Sforce-Query-Options", "batchSize=100")
					b := readAll(t, resp)
					var p page
					if resp.StatusCode == 200 {
						if err := json.Unmarshal(b, &p); err != nil {
							t.Fatalf("page is not JSON: %v\n%s", err, b)
						}
					}
					return resp.StatusCode, p
				}
				// A query whose size is within the cap (a larger one is
				// answered done after its first page: totalSize is cut).
				code, p1 := fetch("/services/data/v60.0/query?q=" + url.QueryEscape("SELECT Id, Name FROM Contact LIMIT 150"))
				if code != 200 || len(p1.Records) != 100 || p1.NextRecordsURL == "" {
					t.Fatalf("first page: %d, %d records, next %q", code, len(p1.Records), p1.NextRecordsURL)
				}
				code, p2 := fetch(p1.NextRecordsURL)
				if code != 200 || len(p2.Records) != 50 || !p2.Done {
					t.Fatalf("second page: %d, %d records (want the 50 left of 150), done %v", code, len(p2.Records), p2.Done)
				}
				// The caller asks for the pages again: the same locator,
				// and forged ones (same cursor, its own offset, from the
				// start), several at once.
				cursor := p1.NextRecordsURL[:strings.LastIndexByte(p1.NextRecordsURL, '-')]
				var more atomic.Int64
				var wg sync.WaitGroup
				for _, off := range []string{"-100", "-0", "-50", "-100"} {
					wg.Add(1)
					go func() {
						defer wg.Done()
						code, p := fetch(cursor + off)
						if code == 200 {
							more.Add(int64(len(p.Records)))
							if !p.Done {
								t.Errorf("a page past the cap does not say done")
							}
						}
					}()
				}
				wg.Wait()
				if more.Load() != 0 {
					t.Errorf("forged locators delivered %d more records past max_records", more.Load())
				}
			})

			t.Run("Bulk 2.0 result pages", func(t *testing.T) {
				resp := e.do("POST", "/services/data/v61.0/jobs/query", bearer(repKey),
					strings.NewReader(`{"operation":"query","query":"SELECT Id, Name, Email FROM Contact"}`), "Content-Type", "application/json")
				b := readAll(t, resp)
				var job struct{ ID string }
				if err := json.Unmarshal(b, &job); err != nil || job.ID == "" || resp.StatusCode != 200 {
					t.Fatalf("job: %d %s", resp.StatusCode, b)
				}
				total, locator := 0, ""
				for pages := 0; pages < 10; pages++ {
					target := "/services/data/v61.0/jobs/query/" + job.ID + "/results?maxRecords=60"
					if locator != "" {
						target += "&locator=" + locator
					}
					resp := e.do("GET", target, bearer(repKey), nil)
					b := readAll(t, resp)
					if resp.StatusCode != 200 {
						t.Fatalf("page %d: %d %s", pages, resp.StatusCode, b)
					}
					rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
					if err != nil || len(rows) == 0 {
						t.Fatalf("page %d is not CSV with a header: %v", pages, err)
					}
					total += len(rows) - 1
					if n := resp.Header.Get("Sforce-NumberOfRecords"); n != strconv.Itoa(len(rows)-1) {
						t.Errorf("page %d: Sforce-NumberOfRecords %q for %d rows", pages, n, len(rows)-1)
					}
					locator = resp.Header.Get("Sforce-Locator")
					if locator == "null" || locator == "" {
						break
					}
				}
				if total != 150 {
					t.Errorf("bulk result pages delivered %d records, want max_records 150", total)
				}
				// Downloading the first page again counts too.
				resp = e.do("GET", "/services/data/v61.0/jobs/query/"+job.ID+"/results?maxRecords=60", bearer(repKey), nil)
				b = readAll(t, resp)
				rows, _ := csv.NewReader(bytes.NewReader(b)).ReadAll()
				if resp.StatusCode != 200 || len(rows) != 1 {
					t.Errorf("a repeated download past the cap: %d, %d rows (want the header only)", resp.StatusCode, len(rows))
				}
			})

			t.Run("Zoho page tokens", func(t *testing.T) {
				total, token := 0, ""
				for pages := 0; pages < 10; pages++ {
					target := "/zoho/crm/v7/Contacts?fields=Email,Mobile&per_page=100"
					if token != "" {
						target += "&page_token=" + token
					}
					resp := e.do("GET", target, "Zoho-oauthtoken "+repKey, nil)
					b := readAll(t, resp)
					if resp.StatusCode == 204 {
						break
					}
					var doc struct {
						Data []any
						Info struct {
							NextPageToken *string `json:"next_page_token"`
							MoreRecords   bool    `json:"more_records"`
						}
					}
					if resp.StatusCode != 200 || json.Unmarshal(b, &doc) != nil {
						t.Fatalf("page %d: %d %s", pages, resp.StatusCode, b)
					}
					total += len(doc.Data)
					if doc.Info.NextPageToken == nil || len(doc.Data) == 0 {
						break
					}
					token = *doc.Info.NextPageToken
				}
				if total != 150 {
					t.Errorf("Zoho pages delivered %d records, want max_records 150", total)
				}
			})

			t.Run("GraphQL after cursors", func(t *testing.T) {
				total, after := 0, ""
				for pages := 0; pages < 10; pages++ {
					args := "first: 100"
					if after != "" {
						args += `, after: \"` + after + `\"`
					}
					q := `{"query":"query { uiapi { query { Contact(` + args + `) { edges { node { Id Name { value } } } pageInfo { endCursor hasNextPage } } } } }"}`
					resp := e.do("POST", "/services/data/v60.0/graphql", bearer(repKey), strings.NewReader(q), "Content-Type", "application/json")
					b := readAll(t, resp)
					var doc struct {
						Data struct {
							Uiapi struct {
								Query struct {
									Contact struct {
										Edges    []any
										PageInfo struct {
											EndCursor   string
											HasNextPage bool
										}
									}
								}
							}
						}
					}
					if resp.StatusCode != 200 || json.Unmarshal(b, &doc) != nil {
						t.Fatalf("page %d: %d %s", pages, resp.StatusCode, b)
					}
					c := doc.Data.Uiapi.Query.Contact
					total += len(c.Edges)
					if !c.PageInfo.HasNextPage || len(c.Edges) == 0 {
						break
					}
					after = c.PageInfo.EndCursor
				}
				if total != 150 {
					t.Errorf("GraphQL pages delivered %d records, want max_records 150", total)
				}
			})

			// The audit events are written after each response: wait for
			// the cut pages' ones.
			deadline := time.Now().Add(10 * time.Second)
			for {
				var truncated int
				for _, ev := range readEvents(t, filepath.Join(e.dir, "audit.jsonl")) {
					if get(ev, "crm", "truncated") == true {
						truncated++
					}
				}
				if truncated >= 3 { // one per export above
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d audit events say truncated, want one per export at least", truncated)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

// TestQueryContinuationPagesCountAgainstTheQuota: the next page of a REST
// query (nextRecordsUrl) is the same query: it reserves from the quota
// and is cut at what is left, like the first page.
func TestQueryContinuationPagesCountAgainstTheQuota(t *testing.T) {
	e := newEnv(t, envOptions{limits: "ratelimit:\n  store: memory\n  quotas:\n    - {name: queries, key: subject, records: 150, window: 1h, operations: [query]}\n"})
	type page struct {
		Done           bool
		NextRecordsURL string `json:"nextRecordsUrl"`
		Records        []any
	}
	fetch := func(path string) (int, page) {
		resp := e.do("GET", path, bearer(repKey), nil, "Sforce-Query-Options", "batchSize=100")
		b := readAll(t, resp)
		var p page
		if resp.StatusCode == 200 {
			if err := json.Unmarshal(b, &p); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, b)
			}
		}
		return resp.StatusCode, p
	}
	// The query is smaller than the quota, its pages together are not.
	code, p1 := fetch("/services/data/v60.0/query?q=" + url.QueryEscape("SELECT Id FROM Contact LIMIT 140"))
	if code != 200 || len(p1.Records) != 100 || p1.NextRecordsURL == "" {
		t.Fatalf("first page: %d, %d records", code, len(p1.Records))
	}
	code, _ = fetch("/services/data/v60.0/query?q=" + url.QueryEscape("SELECT Id FROM Contact LIMIT 20"))
	if code != 200 {
		t.Fatalf("a second query: %d", code)
	}
	code, p2 := fetch(p1.NextRecordsURL)
	if code != 200 || len(p2.Records) != 30 || !p2.Done {
		t.Fatalf("next page: %d, %d records (want the 30 left of the quota, of 40), done %v", code, len(p2.Records), p2.Done)
	}
	if code, _ := fetch(p1.NextRecordsURL); code != 429 {
		t.Errorf("the page again with the quota used up: %d, want 429", code)
	}
}
