// The sample CRM's Salesforce composite API: composite requests with
// references, composite batch and sObject collections (docs/samplecrm.md).

package samplecrm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

// memWriter captures a sub-request's response.
type memWriter struct {
	h    http.Header
	code int
	buf  bytes.Buffer
	done bool
}

func (m *memWriter) Header() http.Header { return m.h }
func (m *memWriter) WriteHeader(code int) {
	if !m.done {
		m.code, m.done = code, true
	}
}
func (m *memWriter) Write(p []byte) (int, error) {
	m.done = true
	return m.buf.Write(p)
}

// subRequest runs method+target against this server without recording it.
func (s *Server) subRequest(parent *http.Request, method, target string, body []byte) *memWriter {
	ctx := context.WithValue(parent.Context(), internalKey, true)
	mw := &memWriter{h: http.Header{}, code: http.StatusOK}
	var rd io.Reader = http.NoBody
	if len(body) > 0 {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil || !strings.HasPrefix(req.URL.Path, "/services/data/") {
		sfError(mw, http.StatusBadRequest, "INVALID_URL", "The sub-request URL is not a valid /services/data/ URL: "+target)
		return mw
	}
	req.Host = parent.Host
	req.Header.Set("Authorization", parent.Header.Get("Authorization"))
	req.Header.Set("Content-Type", "application/json")
	s.ServeHTTP(mw, req)
	return mw
}

// rawBody returns the captured body as JSON (null when empty).
func (m *memWriter) rawBody() json.RawMessage {
	b := bytes.TrimSpace(m.buf.Bytes())
	if len(b) == 0 {
		return json.RawMessage("null")
	}
	if !json.Valid(b) {
		q, _ := json.Marshal(string(b))
		return q
	}
	return b
}

var refRE = regexp.MustCompile(`@\{([A-Za-z0-9_]+)\.([^}]+)\}`)

// resolveRef looks up "a.b[0].c" in a decoded JSON body.
func resolveRef(v any, p string) (string, bool) {
	for seg := range strings.SplitSeq(p, ".") {
		name, idx, hasIdx := strings.Cut(seg, "[")
		if m, ok := v.(map[string]any); ok && name != "" {
			v = m[name]
		} else if name != "" {
			return "", false
		}
		if hasIdx {
			n, err := strconv.Atoi(strings.TrimSuffix(idx, "]"))
			a, ok := v.([]any)
			if err != nil || !ok || n < 0 || n >= len(a) {
				return "", false
			}
			v = a[n]
		}
	}
	switch x := v.(type) {
	case string:
		return x, true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

func (s *Server) sfComposite(w http.ResponseWriter, r *http.Request, base string, segs []string) {
	switch {
	case len(segs) == 0 || segs[0] == "":
		if allow(w, r.Method, "POST") {
			s.sfCompositeRequest(w, r)
		}
	case segs[0] == "batch" && len(segs) == 1:
		if allow(w, r.Method, "POST") {
			s.sfCompositeBatch(w, r)
		}
	case segs[0] == "sobjects":
		s.sfCollections(w, r, base, segs[1:])
	default:
		sfError(w, http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
	}
}

func (s *Server) sfCompositeRequest(w http.ResponseWriter, r *http.Request) {
	var req struct {
		AllOrNone        bool `json:"allOrNone"`
		CompositeRequest []struct {
			Method      string          `json:"method"`
			URL         string          `json:"url"`
			ReferenceID string          `json:"referenceId"`
			Body        json.RawMessage `json:"body"`
		} `json:"compositeRequest"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 10<<20)).Decode(&req); err != nil {
		sfError(w, http.StatusBadRequest, "JSON_PARSER_ERROR", "The request body is not valid: "+err.Error())
		return
	}
	if len(req.CompositeRequest) == 0 || len(req.CompositeRequest) > 25 {
		sfError(w, http.StatusBadRequest, "INVALID_BATCH_REQUEST", "compositeRequest must hold 1 to 25 sub-requests")
		return
	}
	type result struct {
		Body           json.RawMessage   `json:"body"`
		HTTPHeaders    map[string]string `json:"httpHeaders"`
		HTTPStatusCode int               `json:"httpStatusCode"`
		ReferenceID    string            `json:"referenceId"`
	}
	refs := map[string]any{}
	out := struct {
		CompositeResponse []result `json:"compositeResponse"`
	}{}
	failed := false
	for _, sr := range req.CompositeRequest {
		if failed && req.AllOrNone {
			out.CompositeResponse = append(out.CompositeResponse, result{
				Body:           json.RawMessage(`[{"errorCode":"PROCESSING_HALTED","message":"The transaction was rolled back since another operation in the same transaction failed."}]`),
				HTTPHeaders:    map[string]string{},
				HTTPStatusCode: http.StatusBadRequest, ReferenceID: sr.ReferenceID})
			continue
		}
		var unresolved string
		subst := func(in string) string {
			return refRE.ReplaceAllStringFunc(in, func(m string) string {
				g := refRE.FindStringSubmatch(m)
				if v, ok := resolveRef(refs[g[1]], g[2]); ok {
					return v
				}
				unresolved = m
				return m
			})
		}
		target := subst(sr.URL)
		var body []byte
		if len(sr.Body) > 0 && string(sr.Body) != "null" {
			body = []byte(subst(string(sr.Body)))
		}
		var res result
		if unresolved != "" {
			res = result{Body: json.RawMessage(`[{"errorCode":"INVALID_REFERENCE","message":"Invalid reference specified. No value for ` + strings.Trim(strconv.Quote(unresolved), `"`) + ` found."}]`),
				HTTPStatusCode: http.StatusBadRequest}
		} else {
			mw := s.subRequest(r, strings.ToUpper(sr.Method), target, body)
			res = result{Body: mw.rawBody(), HTTPStatusCode: mw.code}
			if loc := mw.h.Get("Location"); loc != "" {
				res.HTTPHeaders = map[string]string{"Location": loc}
			}
			var v any
			if json.Unmarshal(res.Body, &v) == nil && sr.ReferenceID != "" {
				refs[sr.ReferenceID] = v
			}
		}
		if res.HTTPHeaders == nil {
			res.HTTPHeaders = map[string]string{}
		}
		res.ReferenceID = sr.ReferenceID
		if res.HTTPStatusCode >= 400 {
			failed = true
		}
		out.CompositeResponse = append(out.CompositeResponse, res)
	}
	b, _ := json.Marshal(out)
	writeJSON(w, http.StatusOK, b)
}

func (s *Server) sfCompositeBatch(w http.ResponseWriter, r *http.Request) {
	var req struct {
		HaltOnError   bool `json:"haltOnError"`
		BatchRequests []struct {
			Method    string          `json:"method"`
			URL       string          `json:"url"`
			RichInput json.RawMessage `json:"richInput"`
		} `json:"batchRequests"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 10<<20)).Decode(&req); err != nil {
		sfError(w, http.StatusBadRequest, "JSON_PARSER_ERROR", "The request body is not valid: "+err.Error())
		return
	}
	if len(req.BatchRequests) == 0 || len(req.BatchRequests) > 25 {
		sfError(w, http.StatusBadRequest, "INVALID_BATCH_REQUEST", "batchRequests must hold 1 to 25 sub-requests")
		return
	}
	type result struct {
		StatusCode int             `json:"statusCode"`
		Result     json.RawMessage `json:"result"`
	}
	out := struct {
		HasErrors bool     `json:"hasErrors"`
		Results   []result `json:"results"`
	}{Results: []result{}}
	for _, br := range req.BatchRequests {
		if out.HasErrors && req.HaltOnError {
			out.Results = append(out.Results, result{StatusCode: http.StatusPreconditionFailed,
				Result: json.RawMessage(`[{"errorCode":"BATCH_PROCESSING_HALTED","message":"Batch processing halted per request"}]`)})
			continue
		}
		u := strings.TrimPrefix(br.URL, "/")
		u = strings.TrimPrefix(u, "services/data/")
		var body []byte
		if len(br.RichInput) > 0 && string(br.RichInput) != "null" {
			body = br.RichInput
		}
		mw := s.subRequest(r, strings.ToUpper(br.Method), "/services/data/"+u, body)
		res := result{StatusCode: mw.code, Result: mw.rawBody()}
		if mw.code >= 400 {
			out.HasErrors = true
		}
		out.Results = append(out.Results, res)
	}
	b, _ := json.Marshal(out)
	writeJSON(w, http.StatusOK, b)
}

// sfCollections serves composite/sobjects (sObject Collections).
func (s *Server) sfCollections(w http.ResponseWriter, r *http.Request, base string, segs []string) {
	if len(segs) == 1 && segs[0] != "" {
		o := s.objects[strings.ToLower(segs[0])]
		if o == nil {
			sfError(w, http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
			return
		}
		var ids []string
		var fields string
		switch r.Method {
		case "GET":
			if v := r.URL.Query().Get("ids"); v != "" {
				ids = strings.Split(v, ",")
			}
			fields = r.URL.Query().Get("fields")
		case "POST":
			var req struct {
				IDs    []string `json:"ids"`
				Fields []string `json:"fields"`
			}
			if err := json.NewDecoder(io.LimitReader(r.Body, 10<<20)).Decode(&req); err != nil {
				sfError(w, http.StatusBadRequest, "JSON_PARSER_ERROR", "The request body is not valid: "+err.Error())
				return
			}
			ids, fields = req.IDs, strings.Join(req.Fields, ",")
		default:
			allow(w, r.Method, "GET", "POST")
			return
		}
		if len(ids) == 0 || len(ids) > 2000 || strings.TrimSpace(fields) == "" {
			sfError(w, http.StatusBadRequest, "INVALID_FIELD", "ids (1 to 2000) and fields are required")
			return
		}
		q, err := projFor(o, fields)
		if err != nil {
			writeQueryError(w, err)
			return
		}
		t := o.snapshot()
		e := &sfEnc{base: base, b: []byte{'['}}
		for k, id := range ids {
			if k > 0 {
				e.b = append(e.b, ',')
			}
			if i, ok := t.lookup(strings.TrimSpace(id)); ok && !t.rows[i].deleted {
				e.record(q.proj, t, i)
			} else {
				e.b = append(e.b, "null"...)
			}
		}
		writeJSON(w, http.StatusOK, append(e.b, ']'))
		return
	}
	if len(segs) > 1 || (len(segs) == 1 && segs[0] != "") {
		sfError(w, http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
		return
	}
	type result struct {
		ID      string            `json:"id,omitempty"`
		Success bool              `json:"success"`
		Errors  []json.RawMessage `json:"errors"`
	}
	var results []result
	fail := func(msg, code string) result {
		e, _ := json.Marshal(map[string]any{"statusCode": code, "message": msg, "fields": []string{}})
		return result{Errors: []json.RawMessage{e}}
	}
	switch r.Method {
	case "DELETE":
		for id := range strings.SplitSeq(r.URL.Query().Get("ids"), ",") {
			if id == "" {
				continue
			}
			res := fail("entity is deleted", "ENTITY_IS_DELETED")
			for _, o := range s.objOrder {
				if strings.HasPrefix(id, o.prefix) && o.remove(id) {
					res = result{ID: id, Success: true, Errors: []json.RawMessage{}}
				}
			}
			results = append(results, res)
		}
	case "POST", "PATCH":
		var req struct {
			AllOrNone bool             `json:"allOrNone"`
			Records   []map[string]any `json:"records"`
		}
		dec := json.NewDecoder(io.LimitReader(r.Body, 10<<20))
		dec.UseNumber()
		if err := dec.Decode(&req); err != nil || len(req.Records) == 0 || len(req.Records) > 200 {
			sfError(w, http.StatusBadRequest, "JSON_PARSER_ERROR", "records must hold 1 to 200 records")
			return
		}
		for _, rec := range req.Records {
			attrs, _ := rec["attributes"].(map[string]any)
			typ, _ := attrs["type"].(string)
			o := s.objects[strings.ToLower(typ)]
			if o == nil {
				results = append(results, fail("sObject type '"+typ+"' is not supported", "INVALID_TYPE"))
				continue
			}
			id, _ := rec["id"].(string)
			if id == "" {
				id, _ = rec["Id"].(string)
			}
			delete(rec, "id")
			delete(rec, "Id")
			vals, err := recordValues(o, rec, r.Method == "POST")
			if err != nil {
				var fe *fieldError
				errors.As(err, &fe)
				results = append(results, fail(fe.msg, fe.code))
				continue
			}
			if r.Method == "POST" {
				results = append(results, result{ID: o.create(vals), Success: true, Errors: []json.RawMessage{}})
			} else if o.update(id, vals) {
				results = append(results, result{ID: id, Success: true, Errors: []json.RawMessage{}})
			} else {
				results = append(results, fail("entity is deleted or does not exist", "ENTITY_IS_DELETED"))
			}
		}
	default:
		allow(w, r.Method, "POST", "PATCH", "DELETE")
		return
	}
	if results == nil {
		results = []result{}
	}
	b, _ := json.Marshal(results)
	writeJSON(w, http.StatusOK, b)
}
