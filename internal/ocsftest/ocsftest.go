// Package ocsftest checks events against the OCSF schema's own definition
// files, for tests: the audit package's OCSF conversion and the proxy's
// end-to-end tests validate every event they produce with it
// (docs/audit.md "OCSF").
//
// The definitions are the OCSF project's source files (schema/ocsf-1.8.0,
// Apache-2.0, with its LICENSE), not a compiled JSON Schema: the OCSF
// project publishes none for 1.8.0 that a Go library reads, so the
// resolution is written here. A class or object is its own attributes
// plus those of what it `extends` and of the files it `$include`s
// (profiles); each attribute's type, array-ness and enum come from
// dictionary.json merged with the class's or object's own entry. Only the
// definitions an event uses are copied; an object whose file is missing is
// reported as an error, never skipped.
package ocsftest

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
)

//go:embed all:schema
var files embed.FS

// Version is the OCSF version of the embedded definitions.
const Version = "1.8.0"

// Default returns the embedded OCSF 1.8.0 definitions, loaded once.
var Default = sync.OnceValues(func() (*Schema, error) {
	sub, err := fs.Sub(files, "schema/ocsf-"+Version)
	if err != nil {
		return nil, err
	}
	return Load(sub)
})

// Schema is a set of OCSF definitions.
type Schema struct {
	fsys       fs.FS
	version    string
	dict       map[string]rawAttr
	types      map[string]rawType
	categories map[string]category
	events     map[string]string // class name -> file
	profiles   map[string]bool

	mu      sync.Mutex
	classes map[string]*def // by "event:name" or "object:name"
	regexps map[string]*regexp.Regexp
}

type rawAttr struct {
	Type        string                     `json:"type"`
	IsArray     bool                       `json:"is_array"`
	Requirement string                     `json:"requirement"`
	Enum        map[string]json.RawMessage `json:"enum"`
	Sibling     string                     `json:"sibling"`
	Deprecated  json.RawMessage            `json:"@deprecated"`
}

type rawType struct {
	Type   string `json:"type"`
	Regex  string `json:"regex"`
	MaxLen int    `json:"max_len"`
	Range  []int  `json:"range"`
	Values []any  `json:"values"`
}

type rawDef struct {
	Name        string                     `json:"name"`
	Caption     string                     `json:"caption"`
	UID         int                        `json:"uid"`
	Category    string                     `json:"category"`
	Extends     string                     `json:"extends"`
	Meta        string                     `json:"meta"`
	Attributes  map[string]json.RawMessage `json:"attributes"`
	Constraints map[string][]string        `json:"constraints"`
}

type category struct {
	UID     int    `json:"uid"`
	Caption string `json:"caption"`
}

// attr is a resolved attribute of a class or object.
type attr struct {
	typ         string
	isArray     bool
	requirement string
	enum        map[string]string // id -> caption
	sibling     string
	profile     string // the profile that adds it; "" if always available
	deprecated  bool
}

// def is a resolved class or object.
type def struct {
	name        string
	caption     string
	uid         int // classes: category_uid*1000 + uid
	category    string
	attrs       map[string]*attr
	constraints map[string][]string
}

// Load reads definitions from fsys (the layout of the OCSF schema
// repository: dictionary.json, categories.json, events/, objects/,
// profiles/).
func Load(fsys fs.FS) (*Schema, error) {
	s := &Schema{fsys: fsys, events: map[string]string{}, profiles: map[string]bool{},
		classes: map[string]*def{}, regexps: map[string]*regexp.Regexp{}}
	var v struct {
		Version string `json:"version"`
	}
	if err := readJSON(fsys, "version.json", &v); err != nil {
		return nil, err
	}
	s.version = v.Version
	var dict struct {
		Attributes map[string]rawAttr `json:"attributes"`
		Types      struct {
			Attributes map[string]rawType `json:"attributes"`
		} `json:"types"`
	}
	if err := readJSON(fsys, "dictionary.json", &dict); err != nil {
		return nil, err
	}
	s.dict, s.types = dict.Attributes, dict.Types.Attributes
	var cats struct {
		Attributes map[string]category `json:"attributes"`
	}
	if err := readJSON(fsys, "categories.json", &cats); err != nil {
		return nil, err
	}
	s.categories = cats.Attributes
	err := fs.WalkDir(fsys, "events", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path.Ext(p) != ".json" {
			return err
		}
		var r rawDef
		if err := readJSON(fsys, p, &r); err != nil {
			return err
		}
		s.events[r.Name] = p
		return nil
	})
	if err != nil {
		return nil, err
	}
	ps, err := fs.Glob(fsys, "profiles/*.json")
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		var r rawDef
		if err := readJSON(fsys, p, &r); err != nil {
			return nil, err
		}
		s.profiles[r.Name] = true
	}
	return s, nil
}

func readJSON(fsys fs.FS, name string, v any) error {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return fmt.Errorf("ocsf schema: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("ocsf schema: %s: %w", name, err)
	}
	return nil
}

// class resolves the event class name.
func (s *Schema) class(name string) (*def, error) {
	p, ok := s.events[name]
	if !ok {
		return nil, fmt.Errorf("ocsf schema: no event class %q in the definitions", name)
	}
	return s.resolve("event:"+name, p, true)
}

// object resolves the object name.
func (s *Schema) object(name string) (*def, error) {
	return s.resolve("object:"+name, "objects/"+name+".json", false)
}

func (s *Schema) resolve(key, file string, event bool) (*def, error) {
	s.mu.Lock()
	d, ok := s.classes[key]
	s.mu.Unlock()
	if ok {
		return d, nil
	}
	var r rawDef
	if err := readJSON(s.fsys, file, &r); err != nil {
		return nil, err
	}
	d = &def{name: r.Name, caption: r.Caption, attrs: map[string]*attr{}, constraints: r.Constraints, category: r.Category}
	if r.Extends != "" {
		var parent *def
		var err error
		if event {
			parent, err = s.class(r.Extends)
		} else {
			parent, err = s.object(r.Extends)
		}
		if err != nil {
			return nil, fmt.Errorf("ocsf schema: %s extends %s: %w", r.Name, r.Extends, err)
		}
		for k, a := range parent.attrs {
			c := *a
			c.enum = maps.Clone(a.enum)
			d.attrs[k] = &c
		}
		if d.constraints == nil {
			d.constraints = parent.constraints
		}
		if d.category == "" {
			d.category = parent.category
		}
	}

	// Included files (profiles) first, then the definition's own entries,
	// which override them ("profile": null takes an attribute out of its
	// profile).
	if inc, ok := r.Attributes["$include"]; ok {
		var paths []string
		if err := json.Unmarshal(inc, &paths); err != nil {
			return nil, fmt.Errorf("ocsf schema: %s: $include: %w", file, err)
		}
		for _, p := range paths {
			var pr rawDef
			if err := readJSON(s.fsys, p, &pr); err != nil {
				return nil, err
			}
			profile := ""
			if pr.Meta == "profile" {
				profile = pr.Name
			}
			if err := s.merge(d, pr.Attributes, profile, true); err != nil {
				return nil, fmt.Errorf("ocsf schema: %s: %w", p, err)
			}
		}
	}
	if err := s.merge(d, r.Attributes, "", false); err != nil {
		return nil, fmt.Errorf("ocsf schema: %s: %w", file, err)
	}
	if event && r.UID != 0 {
		// A class's own uid and category are values of class_uid and
		// category_uid (the compiled schema adds them to their enums).
		cat := s.categories[d.category]
		d.uid = cat.UID*1000 + r.UID
		if a := d.attrs["class_uid"]; a != nil {
			a.enum = maps.Clone(a.enum)
			a.enum[strconv.Itoa(d.uid)] = r.Caption
		}
		if a := d.attrs["category_uid"]; a != nil {
			a.enum = maps.Clone(a.enum)
			a.enum[strconv.Itoa(cat.UID)] = cat.Caption
		}
	}
	s.mu.Lock()
	s.classes[key] = d
	s.mu.Unlock()
	return d, nil
}

// merge adds entries to d. Entries of an included profile (included true)
// belong to it; a definition's own entries keep an attribute's profile
// unless they say "profile".
func (s *Schema) merge(d *def, entries map[string]json.RawMessage, profile string, included bool) error {
	for name, raw := range entries {
		if name == "$include" {
			continue
		}
		var e map[string]json.RawMessage
		if err := json.Unmarshal(raw, &e); err != nil {
			return fmt.Errorf("attribute %s: %w", name, err)
		}
		a, ok := d.attrs[name]
		if !ok {
			dict, known := s.dict[name]
			if !known {
				return fmt.Errorf("attribute %s is not in dictionary.json", name)
			}
			a = &attr{typ: dict.Type, isArray: dict.IsArray, requirement: "optional", sibling: dict.Sibling,
				deprecated: len(dict.Deprecated) > 0, enum: map[string]string{}}
			addEnum(a.enum, dict.Enum)
			d.attrs[name] = a
		}
		var over rawAttr
		if err := json.Unmarshal(raw, &over); err != nil {
			return fmt.Errorf("attribute %s: %w", name, err)
		}
		if over.Type != "" {
			a.typ = over.Type
		}
		if _, ok := e["is_array"]; ok {
			a.isArray = over.IsArray
		}
		if over.Requirement != "" {
			a.requirement = over.Requirement
		}
		if over.Sibling != "" {
			a.sibling = over.Sibling
		}
		if len(over.Deprecated) > 0 {
			a.deprecated = true
		}
		addEnum(a.enum, over.Enum)
		switch p, ok := e["profile"]; {
		case ok:
			var name *string
			json.Unmarshal(p, &name)
			a.profile = ""
			if name != nil {
				a.profile = *name
			}
		case included:
			a.profile = profile
		}
	}
	return nil
}

func addEnum(to map[string]string, from map[string]json.RawMessage) {
	for id, raw := range from {
		var v struct {
			Caption string `json:"caption"`
		}
		json.Unmarshal(raw, &v)
		to[id] = v.Caption
	}
}

// Validate checks one event (a JSON object) and returns every problem, one
// per line, each naming the attribute's path; nil when the event is valid.
func (s *Schema) Validate(event []byte) error {
	dec := json.NewDecoder(bytes.NewReader(event))
	dec.UseNumber()
	var ev map[string]any
	if err := dec.Decode(&ev); err != nil {
		return fmt.Errorf("ocsf: not a JSON object: %w", err)
	}
	v := &validation{s: s, applied: map[string]bool{}}
	v.event(ev)
	if len(v.problems) == 0 {
		return nil
	}
	sort.Strings(v.problems)
	return fmt.Errorf("ocsf %s: %d problems:\n  %s", s.version, len(v.problems), strings.Join(v.problems, "\n  "))
}

type validation struct {
	s        *Schema
	applied  map[string]bool
	problems []string
}

func (v *validation) fail(p, format string, args ...any) {
	v.problems = append(v.problems, p+": "+fmt.Sprintf(format, args...))
}

func (v *validation) event(ev map[string]any) {
	uid, ok := intOf(ev["class_uid"])
	if !ok {
		v.fail("class_uid", "missing or not an integer")
		return
	}
	var cls *def
	for name := range v.s.events {
		d, err := v.s.class(name)
		if err != nil {
			v.fail("class_uid", "%v", err)
			return
		}
		if d.uid == int(uid) && d.uid != 0 {
			cls = d
		}
	}
	if cls == nil {
		v.fail("class_uid", "%d is not a class in the definitions", uid)
		return
	}
	if cat, ok := intOf(ev["category_uid"]); ok && int(cat) != v.s.categories[cls.category].UID {
		v.fail("category_uid", "%d, but class %s is in category %d", cat, cls.name, v.s.categories[cls.category].UID)
	}
	if act, ok := intOf(ev["activity_id"]); ok {
		if tu, ok := intOf(ev["type_uid"]); ok && tu != uid*100+act {
			v.fail("type_uid", "%d, want class_uid*100+activity_id = %d", tu, uid*100+act)
		}
		// type_name is "<class>: <activity>" (the compiled schema's
		// type_uid captions), Other included.
		if tn, ok := ev["type_name"].(string); ok {
			if capt := cls.attrs["activity_id"].enum[strconv.FormatInt(act, 10)]; capt != "" && tn != cls.caption+": "+capt {
				v.fail("type_name", "%q, want %q", tn, cls.caption+": "+capt)
			}
		}
	}
	if md, ok := ev["metadata"].(map[string]any); ok {
		if ver, _ := md["version"].(string); ver != v.s.version {
			v.fail("metadata.version", "%q, the definitions are %s", ver, v.s.version)
		}
		if ps, ok := md["profiles"].([]any); ok {
			for _, p := range ps {
				name, _ := p.(string)
				if !v.s.profiles[name] {
					v.fail("metadata.profiles", "unknown profile %q", p)
				}
				v.applied[name] = true
			}
		}
	}
	v.object("", ev, cls)
}

// object checks the members of o against d.
func (v *validation) object(p string, o map[string]any, d *def) {
	names := make([]string, 0, len(d.attrs))
	for name := range d.attrs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		a := d.attrs[name]
		if a.requirement != "required" || (a.profile != "" && !v.applied[a.profile]) {
			continue
		}
		if val, ok := o[name]; !ok || val == nil {
			v.fail(join(p, name), "required by %s, missing", d.name)
		}
	}
	for kind, list := range d.constraints {
		n := 0
		for _, name := range list {
			if val, ok := o[name]; ok && val != nil {
				n++
			}
		}
		switch {
		case kind == "at_least_one" && n == 0:
			v.fail(or(p, d.name), "%s needs at least one of %s", d.name, strings.Join(list, ", "))
		case kind == "just_one" && n != 1:
			v.fail(or(p, d.name), "%s needs exactly one of %s, has %d", d.name, strings.Join(list, ", "), n)
		}
	}
	keys := make([]string, 0, len(o))
	for k := range o {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		val := o[k]
		a, ok := d.attrs[k]
		switch {
		case !ok:
			v.fail(join(p, k), "not an attribute of %s (crmgw's own fields go under unmapped)", d.name)
			continue
		case a.profile != "" && !v.applied[a.profile]:
			v.fail(join(p, k), "belongs to profile %s, which metadata.profiles does not list", a.profile)
		case a.deprecated:
			v.fail(join(p, k), "deprecated in %s", v.s.version)
		}
		if val == nil {
			continue
		}
		v.value(join(p, k), val, a)
		// An enum's sibling holds the caption of the id, except for Other.
		if a.sibling != "" && len(a.enum) > 0 {
			if sib, ok := o[a.sibling].(string); ok {
				if id, ok := intOf(val); ok && id != 99 {
					if want := a.enum[strconv.FormatInt(id, 10)]; want != "" && sib != want {
						v.fail(join(p, a.sibling), "%q, but %s %d is %q", sib, k, id, want)
					}
				}
			}
		}
	}
}

func (v *validation) value(p string, val any, a *attr) {
	if a.isArray {
		list, ok := val.([]any)
		if !ok {
			v.fail(p, "must be an array of %s", a.typ)
			return
		}
		for i, item := range list {
			v.scalar(p+"["+strconv.Itoa(i)+"]", item, a)
		}
		return
	}
	v.scalar(p, val, a)
}

func (v *validation) scalar(p string, val any, a *attr) {
	if _, ok := v.s.types[a.typ]; ok {
		v.primitive(p, val, a.typ)
		if len(a.enum) > 0 && val != nil {
			key := fmt.Sprint(val)
			if _, ok := a.enum[key]; !ok {
				v.fail(p, "%s is not one of its enum values", key)
			}
		}
		return
	}
	o, ok := val.(map[string]any)
	if !ok {
		v.fail(p, "must be a %s object, got %T", a.typ, val)
		return
	}
	if a.typ == "object" {
		return // a free-form object: unmapped
	}
	d, err := v.s.object(a.typ)
	if err != nil {
		v.fail(p, "%v", err)
		return
	}
	v.object(p, o, d)
}

// primitive checks val against a dictionary type and the types it derives
// from (timestamp_t is a long_t; email_t a string_t with a pattern).
func (v *validation) primitive(p string, val any, typ string) {
	for t := typ; t != ""; t = v.s.types[t].Type {
		rt := v.s.types[t]
		switch t {
		case "string_t":
			if _, ok := val.(string); !ok {
				v.fail(p, "must be a string (%s), got %s", typ, kind(val))
				return
			}
		case "integer_t", "long_t":
			n, ok := intOf(val)
			if !ok {
				v.fail(p, "must be an integer (%s), got %s", typ, kind(val))
				return
			}
			if t == "integer_t" && (n < math.MinInt32 || n > math.MaxInt32) {
				v.fail(p, "%d does not fit integer_t (32 bits)", n)
			}
		case "float_t":
			if _, ok := val.(json.Number); !ok {
				v.fail(p, "must be a number (%s), got %s", typ, kind(val))
				return
			}
		case "boolean_t":
			if _, ok := val.(bool); !ok {
				v.fail(p, "must be true or false (%s), got %s", typ, kind(val))
				return
			}
		case "json_t":
			return
		}
		if rt.Regex != "" {
			if s, ok := val.(string); ok {
				re, err := v.s.regexp(rt.Regex)
				if err != nil {
					v.fail(p, "pattern of %s: %v", t, err)
				} else if !re.MatchString(s) {
					v.fail(p, "%q is not a valid %s", s, t)
				}
			}
		}
		if s, ok := val.(string); ok && rt.MaxLen > 0 && len(s) > rt.MaxLen {
			v.fail(p, "longer than %d (%s)", rt.MaxLen, t)
		}
		if n, ok := intOf(val); ok && len(rt.Range) == 2 && (n < int64(rt.Range[0]) || n > int64(rt.Range[1])) {
			v.fail(p, "%d is outside %s's range %v", n, t, rt.Range)
		}
	}
}

func (s *Schema) regexp(expr string) (*regexp.Regexp, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if re, ok := s.regexps[expr]; ok {
		return re, nil
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, err
	}
	s.regexps[expr] = re
	return re, nil
}

func intOf(v any) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := strconv.ParseInt(string(n), 10, 64)
	return i, err == nil
}

func kind(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return "null"
}

func join(p, k string) string {
	if p == "" {
		return k
	}
	return p + "." + k
}

func or(p, name string) string {
	if p == "" {
		return name
	}
	return p
}
