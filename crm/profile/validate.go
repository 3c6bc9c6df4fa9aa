package profile

import (
	stdjson "encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/go-json-experiment/json"

	"github.com/crmgw/crmgw/crm"
	"github.com/crmgw/crmgw/internal/jsonptr"
	"github.com/crmgw/crmgw/internal/tmplref"
)

var operations = map[string]bool{}
var categories = map[string]bool{}

func init() {
	for _, o := range []crm.Operation{crm.OpRead, crm.OpList, crm.OpQuery, crm.OpSearch, crm.OpCreate, crm.OpUpdate, crm.OpUpsert,
		crm.OpDelete, crm.OpBulkQuery, crm.OpBulkResult, crm.OpBulkIngest, crm.OpReport, crm.OpDescribe, crm.OpComposite} {
		operations[string(o)] = true
	}
	for _, c := range []crm.Category{crm.CatRead, crm.CatWrite, crm.CatExport, crm.CatBulk, crm.CatMetadata} {
		categories[string(c)] = true
	}
}

// validate checks everything Parse could not: templates, pointers,
// operations, that each source names exactly one place.
func (p *Profile) validate() error {
	var errs []error
	bad := func(line int, format string, args ...any) {
		errs = append(errs, &Error{File: p.File, Line: line, Msg: fmt.Sprintf(format, args...)})
	}
	if p.Name == "" {
		bad(1, "name: required")
	}
	for _, e := range p.EmbeddedJSON {
		if !jsonptr.Valid(e) || e == "" {
			bad(1, "embedded_json: %q is not a JSON pointer below the root", e)
		}
	}
	if p.Error.Body == "" {
		bad(p.Error.Line, "error.body: required (the CRM's error shape, with {code}, {message}, {request_id})")
	} else {
		b := ExpandError(p.Error.Body, 403, "CRMGW_FORBIDDEN", `a "quoted" reason`, "01J")
		var v map[string]any
		if err := json.Unmarshal(b, &v); err != nil {
			bad(p.Error.Line, "error.body: not a JSON object once filled in: %v", err)
		} else if !strings.Contains(p.Error.Body, "{message}") {
			bad(p.Error.Line, "error.body: must hold {message}")
		}
	}
	p.validateCredential(bad)
	names := map[string]bool{}
	if len(p.Endpoints) == 0 {
		bad(1, "endpoints: at least one is required")
	}
	for i := range p.Endpoints {
		e := &p.Endpoints[i]
		line := e.Line
		if e.Name == "" {
			bad(line, "endpoint: name required")
		} else if names[e.Name] {
			bad(line, "endpoint %q: duplicate name", e.Name)
		}
		names[e.Name] = true
		switch e.Match.Method {
		case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE":
		default:
			bad(line, "endpoint %q: match.method: want GET, HEAD, POST, PUT, PATCH or DELETE, got %q", e.Name, e.Match.Method)
		}
		tmpl, err := parseTemplate(e.Match.Path)
		if err != nil {
			bad(line, "endpoint %q: match.path: %v", e.Name, err)
		}
		e.tmpl = tmpl
		params := map[string]bool{}
		for _, s := range tmpl {
			if s.param != "" {
				params[s.param] = true
			}
		}
		for _, c := range e.Match.Body {
			if !jsonptr.Valid(c.Pointer) || c.Pointer == "" {
				bad(line, "endpoint %q: match.body: %q is not a JSON pointer", e.Name, c.Pointer)
			}
			if c.Present != nil && c.Equals != "" {
				bad(line, "endpoint %q: match.body %q: set equals or present, not both", e.Name, c.Pointer)
			}
			if c.Present == nil && c.Equals == "" {
				bad(line, "endpoint %q: match.body %q: set equals or present", e.Name, c.Pointer)
			}
		}
		a := &e.Action
		if !operations[a.Operation] {
			bad(line, "endpoint %q: action.operation: unknown operation %q", e.Name, a.Operation)
		}
		if !categories[a.Category] {
			bad(line, "endpoint %q: action.category: unknown category %q", e.Name, a.Category)
		}
		if len(a.Object) == 0 {
			bad(line, "endpoint %q: action.object: required", e.Name)
		}
		for _, group := range []struct {
			key string
			s   Sources
		}{{"object", a.Object}, {"fields", a.Fields}, {"filters", a.Filters}, {"sorts", a.Sorts}, {"written", a.Written}, {"record_id", a.RecordID}, {"cursor", a.Cursor}} {
			for _, s := range group.s {
				l := s.Line
				if l == 0 {
					l = line
				}
				n := 0
				for _, set := range []bool{s.Body != "", s.Path != "", s.Query != "", s.Value != ""} {
					if set {
						n++
					}
				}
				if n != 1 {
					bad(l, "endpoint %q: action.%s: set exactly one of body, path, query, value", e.Name, group.key)
				}
				if s.Body != "" && !jsonptr.Valid(s.Body) {
					bad(l, "endpoint %q: action.%s: %q is not a JSON pointer", e.Name, group.key, s.Body)
				}
				switch s.SQL {
				case "", "select", "from", "where", "order":
				default:
					bad(l, "endpoint %q: action.%s: sql: want select, from, where or order, got %q", e.Name, group.key, s.SQL)
				}
				if s.Path != "" && !params[s.Path] {
					bad(l, "endpoint %q: action.%s: path parameter {%s} is not in match.path", e.Name, group.key, s.Path)
				}
			}
		}
		r := &e.Response
		switch r.Format {
		case "", "json", "none":
		default:
			bad(line, "endpoint %q: response.format: want json or none, got %q", e.Name, r.Format)
		}
		if r.Records != nil && r.Rows != nil {
			bad(line, "endpoint %q: response: set records or rows, not both", e.Name)
		}
		for _, ptr := range []string{deref(r.Records), deref(r.Rows), r.NextCursor} {
			if !jsonptr.Valid(ptr) {
				bad(line, "endpoint %q: response: %q is not a JSON pointer", e.Name, ptr)
			}
		}
		if r.Rows != nil && len(a.Fields) == 0 {
			bad(line, "endpoint %q: response.rows needs action.fields (the columns)", e.Name)
		}
	}
	fx := map[string]bool{}
	for _, f := range p.Fixtures {
		if f.Name == "" {
			bad(f.Line, "fixture: name required")
		} else if fx[f.Name] {
			bad(f.Line, "fixture %q: duplicate name", f.Name)
		}
		fx[f.Name] = true
		if f.Request.Method == "" || !strings.HasPrefix(f.Request.Path, "/") {
			bad(f.Line, "fixture %q: request.method and request.path (starting with /) are required", f.Name)
		}
		if (f.Response == "") != (f.Masked == "") {
			bad(f.Line, "fixture %q: response and masked go together", f.Name)
		}
	}
	return errors.Join(errs...)
}

func (p *Profile) validateCredential(bad func(int, string, ...any)) {
	c := &p.Credential
	line := c.Line
	if te := c.TokenEndpoint; te != nil {
		if !strings.HasPrefix(te.Path, "/") {
			bad(line, "credential.token_endpoint.path: want a path starting with /")
		}
		var v any
		isParam := func(ref string) bool { return strings.HasPrefix(ref, "param.") }
		if err := json.Unmarshal([]byte(tmplref.Expand(te.Body, isParam, func(string) string { return "x" })), &v); err != nil {
			bad(line, "credential.token_endpoint.body: not JSON once filled in: %v", err)
		}
		if te.Token == "" || !jsonptr.Valid(te.Token) {
			bad(line, "credential.token_endpoint.token: want the JSON pointer of the token")
		}
		for _, ptr := range append([]string{te.ExpiresIn, te.OK}, mapValues(te.Values)...) {
			if !jsonptr.Valid(ptr) {
				bad(line, "credential.token_endpoint: %q is not a JSON pointer", ptr)
			}
		}
	}
	if sg := c.Signed; sg != nil {
		if c.TokenEndpoint != nil || len(c.Place) > 0 {
			bad(line, "credential: a signed scheme has no token_endpoint and no place (its headers are the credential)")
		}
		if sg.StringToSign == "" || sg.Key == "" {
			bad(line, "credential.signed: key and string_to_sign are required")
		}
		switch sg.Encoding {
		case "base64", "hex":
		default:
			bad(line, "credential.signed.encoding: want base64 or hex, got %q", sg.Encoding)
		}
		hasSig := false
		for h, v := range sg.Headers {
			hasSig = hasSig || strings.Contains(v, "{signature}")
			for _, ref := range tmplref.Refs(v) {
				if !signedRef(ref, true) {
					bad(line, "credential.signed.headers.%s: unknown placeholder {%s}", h, ref)
				}
			}
		}
		if !hasSig {
			bad(line, "credential.signed.headers: one header must carry {signature}")
		}
		for _, t := range []string{sg.Key, sg.StringToSign} {
			for _, ref := range tmplref.Refs(t) {
				if !signedRef(ref, false) {
					bad(line, "credential.signed: unknown placeholder {%s}", ref)
				}
			}
		}
	}
	if len(c.Place) == 0 && c.Signed == nil {
		bad(line, "credential.place: at least one placement is required (where the gateway's credential goes)")
	}
	for _, pl := range c.Place {
		n := 0
		for _, set := range []bool{pl.Header != "", pl.Query != "", pl.Body != ""} {
			if set {
				n++
			}
		}
		if n != 1 {
			bad(pl.Line, "credential.place: set exactly one of header, query, body")
		}
		if pl.Body != "" && (!jsonptr.Valid(pl.Body) || pl.Body == "") {
			bad(pl.Line, "credential.place: %q is not a JSON pointer", pl.Body)
		}
		if pl.Value == "" {
			bad(pl.Line, "credential.place: value required (e.g. \"Bearer {token}\")")
		}
		for _, ref := range tmplref.Refs(pl.Value) {
			name, _, _ := strings.Cut(ref, ".")
			switch {
			case ref == "token":
			case name == "param" || name == "value":
				if name == "value" && (c.TokenEndpoint == nil || c.TokenEndpoint.Values[strings.TrimPrefix(ref, "value.")] == "") {
					bad(pl.Line, "credential.place: {%s} is not a value of credential.token_endpoint.values", ref)
				}
			default:
				bad(pl.Line, "credential.place: unknown placeholder {%s} (want {token}, {value.NAME}, {param.NAME})", ref)
			}
		}
	}
	for _, b := range c.Strip.Body {
		if !jsonptr.Valid(b) || b == "" {
			bad(line, "credential.strip.body: %q is not a JSON pointer", b)
		}
	}
}

func mapValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// ExpandError fills an error template. Text values are escaped for a JSON
// string; status is written as a number.
func ExpandError(tmpl string, status int, code, message, requestID string) []byte {
	r := strings.NewReplacer(
		"{code}", jsonEscape(code),
		"{message}", jsonEscape(message),
		"{request_id}", jsonEscape(requestID),
		"{status}", fmt.Sprint(status),
	)
	return []byte(r.Replace(tmpl))
}

// jsonEscape returns s escaped for the inside of a JSON string.
func jsonEscape(s string) string {
	b, _ := stdjson.Marshal(s) // invalid UTF-8 becomes U+FFFD; a string always marshals
	return string(b[1 : len(b)-1])
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// signedRef reports whether a placeholder may appear in a signed scheme's
// templates ({signature} only in header values).
func signedRef(ref string, header bool) bool {
	switch ref {
	case "method", "path", "path_escaped", "query", "timestamp", "timestamp_ms", "nonce", "body_sha256":
		return true
	case "signature":
		return header
	}
	return strings.HasPrefix(ref, "param.") && len(ref) > len("param.")
}
