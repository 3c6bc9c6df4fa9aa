// Package profile describes a CRM's REST API in data (YAML) so that an
// upstream of type generic is classified, masked, counted and given the
// gateway's credential like Salesforce and Zoho are. docs/profiles.md has
// the format, the built-in profiles and a tutorial.
//
// A profile is refused whole when any part of it does not validate; every
// problem names the file and line. Requests no endpoint matches are
// unknown (denied by default); a body that could be read two ways is
// rejected.
package profile

import (
	"embed"
	"errors"
	"fmt"
	"os"
	"path"
	"reflect"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Profile is one CRM's API description.
type Profile struct {
	// Name is how upstreams[].profile names a built-in profile.
	Name  string `yaml:"name"`
	Title string `yaml:"title"`
	// Docs are the vendor pages the profile was written from.
	Docs []string `yaml:"docs"`
	// Notes say what the documentation leaves open (to check per tenant).
	Notes []string `yaml:"notes"`
	// EmbeddedJSON lists body pointers whose string value is itself a
	// JSON document (some clients send Kingdee's "data" as a string); it
	// is read as the document it holds.
	EmbeddedJSON []string `yaml:"embedded_json"`
	// Error is the CRM's own error body, so refusals look native.
	Error ErrorShape `yaml:"error"`
	// Credential says where the gateway's credential goes.
	Credential Credential `yaml:"credential"`
	Endpoints  []Endpoint `yaml:"endpoints"`
	Fixtures   []Fixture  `yaml:"fixtures"`

	// File is where the profile was read from ("builtin/x.yaml" for a
	// built-in one).
	File string `yaml:"-"`
}

// ErrorShape is a JSON template with the placeholders {code}, {message}
// and {request_id} (each inside a JSON string) and {status} (a number).
type ErrorShape struct {
	Body string `yaml:"body"`
	Line int    `yaml:"-"`
}

// Credential describes how the gateway authenticates to the CRM.
type Credential struct {
	// TokenEndpoint, when set, is called with the upstream's
	// auth.params to obtain the token (auth.type: profile). Without it
	// the token comes from upstreams[].auth (static, client_credentials,
	// refresh_token, ...).
	TokenEndpoint *TokenEndpoint `yaml:"token_endpoint"`
	// Signed, when set, signs every request instead of sending a token
	// (auth.type: profile; the key comes from auth.params).
	Signed *Signed `yaml:"signed"`
	// Place lists where the credential is written on every request.
	Place []Placement `yaml:"place"`
	// Strip lists further places a caller may carry a credential or an
	// identity in; they are removed before forwarding.
	Strip Strip `yaml:"strip"`
	Line  int   `yaml:"-"`
}

// TokenEndpoint is a token request with a JSON body.
type TokenEndpoint struct {
	Path string `yaml:"path"`
	// Body is a JSON template; {param.NAME} is replaced by auth.params.NAME.
	Body string `yaml:"body"`
	// Token and ExpiresIn are pointers into the answer; ExpiresIn is in
	// seconds (optional).
	Token     string `yaml:"token"`
	ExpiresIn string `yaml:"expires_in"`
	// Values are more answer values, usable in placements as {value.NAME}.
	Values map[string]string `yaml:"values"`
	// OK, when set, names a pointer whose value must be OKValue for
	// the answer to be a success (CRMs answering errors with HTTP 200).
	OK      string `yaml:"ok"`
	OKValue string `yaml:"ok_value"`
}

// Signed is a signed-header scheme: HMAC-SHA256 with Key over
// StringToSign, encoded base64 or hex, written with Headers. Templates
// may use {method}, {path}, {path_escaped}, {query}, {timestamp} (Unix
// seconds), {timestamp_ms}, {nonce}, {body_sha256} (hex), {param.NAME};
// header values also {signature}.
type Signed struct {
	Key          string            `yaml:"key"`
	StringToSign string            `yaml:"string_to_sign"`
	Encoding     string            `yaml:"encoding"`
	Headers      map[string]string `yaml:"headers"`
}

// Placement is one place the credential is written: exactly one of Header,
// Query and Body, with Value a template of {token}, {value.NAME} and
// {param.NAME}.
type Placement struct {
	Header string `yaml:"header"`
	Query  string `yaml:"query"`
	Body   string `yaml:"body"`
	Value  string `yaml:"value"`
	Line   int    `yaml:"-"`
}

// Strip lists caller values removed before forwarding.
type Strip struct {
	Header []string `yaml:"header"`
	Query  []string `yaml:"query"`
	Body   []string `yaml:"body"`
}

// Endpoint maps matching requests to an action and a response shape.
type Endpoint struct {
	Name     string       `yaml:"name"`
	Match    Match        `yaml:"match"`
	Action   ActionSpec   `yaml:"action"`
	Response ResponseSpec `yaml:"response"`
	Line     int          `yaml:"-"`

	tmpl []segment
}

// Match says which requests an endpoint takes.
type Match struct {
	Method string `yaml:"method"`
	// Path is a template: literal segments (matched case-insensitively)
	// and {param} segments (one segment each).
	Path string `yaml:"path"`
	// Body conditions must all hold.
	Body []BodyCond `yaml:"body"`
}

// BodyCond is a condition on the request body: the value at Pointer equals
// Equals (compared as text), or, with Present set, is present or absent.
type BodyCond struct {
	Pointer string `yaml:"pointer"`
	Equals  string `yaml:"equals"`
	Present *bool  `yaml:"present"`
}

// ActionSpec builds the crm.Action of a matched request.
type ActionSpec struct {
	Operation string `yaml:"operation"`
	Category  string `yaml:"category"`
	Mode      string `yaml:"mode"`
	// Object: every source present must give the same single name; at
	// least one must be present.
	Object Sources `yaml:"object"`
	// Fields are the fields read (select role); none present means every
	// field may come back (all_fields).
	Fields  Sources `yaml:"fields"`
	Filters Sources `yaml:"filters"`
	Sorts   Sources `yaml:"sorts"`
	// Written are the fields a write names (no role: writes return ids).
	Written  Sources `yaml:"written"`
	RecordID Sources `yaml:"record_id"`
	Cursor   Sources `yaml:"cursor"`
}

// Source is one place a value is read from: exactly one of Body (a JSON
// pointer), Path (a path template parameter), Query (a query parameter)
// and Value (a constant). The value is a string, or a list:
// Split splits a string on a separator, Key takes that member of each
// object of an array, Keys takes the member names of an object (or of
// each object of an array), Identifiers takes the names in a filter or
// sort expression, SQL takes a part of a SELECT query.
type Source struct {
	Body        string `yaml:"body"`
	Path        string `yaml:"path"`
	Query       string `yaml:"query"`
	Value       string `yaml:"value"`
	Split       string `yaml:"split"`
	Key         string `yaml:"key"`
	Keys        bool   `yaml:"keys"`
	Identifiers bool   `yaml:"identifiers"`
	// SQL reads a part of a SQL-like query (sql.go): select (the field
	// list), from (the object), where or order (the names they mention).
	SQL  string `yaml:"sql"`
	Line int    `yaml:"-"`
}

// Sources is one source or a list of them.
type Sources []Source

// ResponseSpec says where the records of a response are.
type ResponseSpec struct {
	// Records points at an array of records (objects), or at one record.
	Records *string `yaml:"records"`
	// Rows points at an array of positional rows whose columns are the
	// request's fields in order.
	Rows *string `yaml:"rows"`
	// NextCursor points at the next page's cursor.
	NextCursor string `yaml:"next_cursor"`
	// Format is json (default) or none (the body is not read).
	Format string `yaml:"format"`
}

// Fixture is a request → action and response → masked output check, run
// by `crmgw validate`.
type Fixture struct {
	Name    string         `yaml:"name"`
	Request FixtureRequest `yaml:"request"`
	Expect  FixtureExpect  `yaml:"expect"`
	// Response, when set, is masked with Mask and MaxRecords and must
	// equal Masked (compared as JSON).
	Response   string            `yaml:"response"`
	Mask       map[string]string `yaml:"mask"`
	MaxRecords int               `yaml:"max_records"`
	Masked     string            `yaml:"masked"`
	Records    *int              `yaml:"records"`
	Line       int               `yaml:"-"`
}

// FixtureRequest is a request of a fixture.
type FixtureRequest struct {
	Method string `yaml:"method"`
	Path   string `yaml:"path"`
	Query  string `yaml:"query"`
	Body   string `yaml:"body"`
}

// FixtureExpect is the expected classification; unset fields are not
// compared. Rejected expects the request to be refused.
type FixtureExpect struct {
	Rejected   bool                `yaml:"rejected"`
	Operation  string              `yaml:"operation"`
	Category   string              `yaml:"category"`
	Object     string              `yaml:"object"`
	Fields     []string            `yaml:"fields"`
	AllFields  *bool               `yaml:"all_fields"`
	RecordID   string              `yaml:"record_id"`
	Query      string              `yaml:"query"`
	FieldRoles map[string][]string `yaml:"field_roles"`
	// Forwarded is the body sent upstream after the caller's credential
	// members were removed (compared as JSON).
	Forwarded string `yaml:"forwarded"`
}

// UnmarshalYAML accepts one source or a list.
func (s *Sources) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.SequenceNode {
		var list []Source
		if err := n.Decode(&list); err != nil {
			return err
		}
		*s = list
		return nil
	}
	var one Source
	if err := n.Decode(&one); err != nil {
		return err
	}
	*s = Sources{one}
	return nil
}

// UnmarshalYAML records the line.
func (s *Source) UnmarshalYAML(n *yaml.Node) error {
	type plain Source
	if err := n.Decode((*plain)(s)); err != nil {
		return err
	}
	s.Line = n.Line
	return nil
}

// UnmarshalYAML records the line.
func (e *Endpoint) UnmarshalYAML(n *yaml.Node) error {
	type plain Endpoint
	if err := n.Decode((*plain)(e)); err != nil {
		return err
	}
	e.Line = n.Line
	return nil
}

// UnmarshalYAML records the line.
func (f *Fixture) UnmarshalYAML(n *yaml.Node) error {
	type plain Fixture
	if err := n.Decode((*plain)(f)); err != nil {
		return err
	}
	f.Line = n.Line
	return nil
}

// UnmarshalYAML records the line.
func (p *Placement) UnmarshalYAML(n *yaml.Node) error {
	type plain Placement
	if err := n.Decode((*plain)(p)); err != nil {
		return err
	}
	p.Line = n.Line
	return nil
}

// UnmarshalYAML records the line.
func (e *ErrorShape) UnmarshalYAML(n *yaml.Node) error {
	type plain ErrorShape
	if err := n.Decode((*plain)(e)); err != nil {
		return err
	}
	e.Line = n.Line
	return nil
}

// UnmarshalYAML records the line.
func (c *Credential) UnmarshalYAML(n *yaml.Node) error {
	type plain Credential
	if err := n.Decode((*plain)(c)); err != nil {
		return err
	}
	c.Line = n.Line
	return nil
}

//go:embed builtin/*.yaml
var builtinFS embed.FS

// BuiltinNames lists the built-in profiles.
func BuiltinNames() []string {
	ents, _ := builtinFS.ReadDir("builtin")
	var out []string
	for _, e := range ents {
		out = append(out, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	sort.Strings(out)
	return out
}

// IsPath reports whether ref names a file rather than a built-in profile.
func IsPath(ref string) bool {
	return strings.ContainsAny(ref, `/\`) || strings.HasSuffix(ref, ".yaml") || strings.HasSuffix(ref, ".yml")
}

// Load reads a built-in profile by name or a profile file by path.
func Load(ref string) (*Profile, error) {
	if !IsPath(ref) {
		file := "builtin/" + ref + ".yaml"
		data, err := builtinFS.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("profile %q: no such built-in profile (built in: %s)", ref, strings.Join(BuiltinNames(), ", "))
		}
		return Parse(file, data)
	}
	data, err := os.ReadFile(ref)
	if err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	return Parse(ref, data)
}

// Error is a problem at a file and line.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return e.File + ": " + e.Msg
}

// Parse decodes and validates a profile. Unknown keys are errors; every
// problem is reported with file:line.
func Parse(file string, data []byte) (*Profile, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, &Error{File: file, Msg: err.Error()}
	}
	if root.Kind != yaml.DocumentNode || len(root.Content) != 1 || root.Content[0].Kind != yaml.MappingNode {
		return nil, &Error{File: file, Line: 1, Msg: "a profile is a YAML mapping"}
	}
	var errs []error
	checkKnown(root.Content[0], reflect.TypeOf(Profile{}), file, &errs)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	p := &Profile{File: file}
	if err := root.Content[0].Decode(p); err != nil {
		return nil, &Error{File: file, Msg: err.Error()}
	}
	if err := p.validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// checkKnown reports every mapping key that names no field of t (yaml.v3
// loses its strict mode inside custom unmarshalers, so strictness is
// checked here on the node tree, with each key's line).
func checkKnown(n *yaml.Node, t reflect.Type, file string, errs *[]error) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			*errs = append(*errs, &Error{File: file, Line: n.Line, Msg: "want a mapping, got " + kindName(n)})
			return
		}
		fields := map[string]reflect.Type{}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if tag != "" && tag != "-" {
				fields[tag] = f.Type
			}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			ft, ok := fields[k.Value]
			if !ok {
				*errs = append(*errs, &Error{File: file, Line: k.Line, Msg: fmt.Sprintf("unknown key %q", k.Value)})
				continue
			}
			checkKnown(v, ft, file, errs)
		}
	case reflect.Slice:
		if t == reflect.TypeOf(Sources{}) && n.Kind == yaml.MappingNode {
			checkKnown(n, reflect.TypeOf(Source{}), file, errs)
			return
		}
		if n.Kind != yaml.SequenceNode {
			if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
				return
			}
			*errs = append(*errs, &Error{File: file, Line: n.Line, Msg: "want a list, got " + kindName(n)})
			return
		}
		for _, c := range n.Content {
			checkKnown(c, t.Elem(), file, errs)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			*errs = append(*errs, &Error{File: file, Line: n.Line, Msg: "want a mapping, got " + kindName(n)})
			return
		}
		for i := 1; i < len(n.Content); i += 2 {
			checkKnown(n.Content[i], t.Elem(), file, errs)
		}
	default:
		if n.Kind != yaml.ScalarNode {
			*errs = append(*errs, &Error{File: file, Line: n.Line, Msg: "want a single value, got " + kindName(n)})
		}
	}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	return "a single value"
}

// builtinPath reports whether file is a built-in profile's.
func builtinPath(file string) bool { return path.Dir(file) == "builtin" }
