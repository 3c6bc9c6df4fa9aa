package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/crmgw/crmgw/internal/confkey"
)

// Load reads, expands, decodes, defaults and validates the configuration
// file at path. Every problem found is reported at once, each naming the
// key and the file:line it was written at.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return parse(path, data, os.LookupEnv, true)
}

// Parse is Load on bytes already read; name is used in messages and to
// resolve relative paths. lookupEnv resolves ${NAME} references.
func Parse(name string, data []byte, lookupEnv func(string) (string, bool)) (*Config, error) {
	return parse(name, data, lookupEnv, false)
}

// parse is Parse; with files set it also opens the files the configuration
// names (checkFiles).
func parse(name string, data []byte, lookupEnv func(string) (string, bool), files bool) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("config: %s: %w", name, err)
	}
	if root.Kind == 0 || len(root.Content) == 0 {
		return nil, fmt.Errorf("config: %s: file is empty", name)
	}
	doc := root.Content[0]
	if doc.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("config: %s:%d: the top level must be a mapping of sections", name, doc.Line)
	}

	lines := map[string]int{}
	var problems []error
	reported := map[string]bool{}
	add := func(line int, key, msg string) {
		if key != "" && reported[key] {
			return // a key's first problem (e.g. its type) explains the rest
		}
		reported[key] = true
		problems = append(problems, &Problem{File: name, Line: line, Key: key, Msg: msg})
	}
	expandEnv(doc, "", lookupEnv, add)
	values := map[string]string{}
	checkKeys(doc, reflect.TypeOf(Config{}), "", lines, values, add)

	// Type errors do not stop the decoder (yaml.v3 collects them and goes
	// on), so they are reported with everything Validate finds.
	cfg := &Config{}
	if err := doc.Decode(cfg); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, fmt.Errorf("config: %s: %w", name, err)
		}
		for _, msg := range te.Errors {
			line, text, got := typeErrorProblem(msg)
			add(line, keyAtLine(lines, values, line, got), text)
		}
	}
	cfg.path = name
	cfg.resolvePaths(filepath.Dir(name))
	secretErrs := cfg.readSecretFiles(filepath.Dir(name))
	cfg.SetDefaults()
	err := errors.Join(append([]error{cfg.Validate()}, secretErrs...)...)
	if files {
		err = errors.Join(append([]error{err}, cfg.checkFiles()...)...)
	}
	if err != nil {
		for _, e := range confkey.Flatten(err) {
			var ke *confkey.Error
			if errors.As(e, &ke) {
				add(lineOf(lines, ke.Key), ke.Key, ke.Msg)
				continue
			}
			add(0, "", e.Error())
		}
	}
	if len(problems) > 0 {
		return nil, joinSorted(problems)
	}
	cfg.warnings = cfg.collectWarnings(name, lines) // warnings.go
	return cfg, nil
}

// Problem is one configuration error, positioned in the file.
type Problem struct {
	File string
	Line int
	Key  string
	Msg  string
}

func (p *Problem) Error() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		b.WriteString(":")
		b.WriteString(strconv.Itoa(p.Line))
	}
	b.WriteString(": ")
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

func joinSorted(ps []error) error {
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i].(*Problem), ps[j].(*Problem)
		return a.Line < b.Line
	})
	return errors.Join(ps...)
}

// lineOf finds the line of key, or of its closest written ancestor (a key
// that is missing is reported at the line of the section that lacks it).
func lineOf(lines map[string]int, key string) int {
	for key != "" {
		if l, ok := lines[key]; ok {
			return l
		}
		i := strings.LastIndexAny(key, ".[")
		if i <= 0 {
			break
		}
		key = key[:i]
	}
	return lines[key]
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}`)

// expandEnv replaces ${NAME} in scalar values (not in keys or comments). An
// unset variable is an error: an empty secret must never be used by accident.
// ${NAME:-default} takes default when NAME is unset or empty (for sample
// values in shipped examples; never for secrets). "$${" escapes a literal
// "${".
func expandEnv(n *yaml.Node, key string, lookup func(string) (string, bool), add func(int, string, string)) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			expandEnv(n.Content[i+1], joinKey(key, n.Content[i].Value), lookup, add)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			expandEnv(c, key+"["+strconv.Itoa(i)+"]", lookup, add)
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "${") {
			return
		}
		const esc = "\x00crmgw-dollar\x00"
		v := strings.ReplaceAll(n.Value, "$${", esc)
		v = envRef.ReplaceAllStringFunc(v, func(m string) string {
			name, def, hasDef := strings.Cut(m[2:len(m)-1], ":-")
			val, ok := lookup(name)
			if hasDef && val == "" {
				return def
			}
			if !ok {
				add(n.Line, key, fmt.Sprintf("environment variable %s is not set", name))
			}
			return val
		})
		n.Value = strings.ReplaceAll(v, esc, "${")
		// A value that came from the environment is a string unless the
		// field says otherwise; let the decoder resolve it again.
		if n.Tag == "!!str" && n.Style == 0 {
			n.Tag = ""
		}
	}
}

func joinKey(parent, k string) string {
	if parent == "" {
		return k
	}
	return parent + "." + k
}

// checkKeys walks the YAML tree against the Go type that will receive it and
// reports unknown keys with their line, recording where each key was written.
// yaml.v3's strict mode (KnownFields) is only available on a Decoder over
// bytes, not on an already-expanded Node, hence this walk.
func checkKeys(n *yaml.Node, t reflect.Type, key string, lines map[string]int, values map[string]string, add func(int, string, string)) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if key != "" {
		if _, seen := lines[key]; !seen {
			lines[key] = n.Line
		}
		if n.Kind == yaml.ScalarNode {
			values[key] = n.Value
		}
	}
	if t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType) {
		return
	}
	if reflect.PointerTo(t).Implements(textUnmarshalerType) {
		// yaml.v3 stops the whole decode at a text unmarshaler's error and
		// reports it without a line: check the value here, report it with
		// its key and line, and leave the field empty for the decoder.
		if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
			v := reflect.New(t).Interface().(interface{ UnmarshalText([]byte) error })
			if err := v.UnmarshalText([]byte(n.Value)); err != nil {
				add(n.Line, key, err.Error())
				n.Tag, n.Value = "!!null", ""
			}
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
				return
			}
			add(n.Line, key, "expected a mapping")
			return
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			ft, ok := fields[k]
			child := joinKey(key, k)
			lines[child] = n.Content[i].Line
			if !ok {
				add(n.Content[i].Line, child, "unknown key"+suggest(k, fields))
				continue
			}
			checkKeys(n.Content[i+1], ft, child, lines, values, add)
		}
	case reflect.Slice, reflect.Array:
		if n.Kind != yaml.SequenceNode {
			return // the decoder reports the type error
		}
		for i, c := range n.Content {
			checkKeys(c, t.Elem(), key+"["+strconv.Itoa(i)+"]", lines, values, add)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			child := joinKey(key, n.Content[i].Value)
			lines[child] = n.Content[i].Line
			checkKeys(n.Content[i+1], t.Elem(), child, lines, values, add)
		}
	}
}

var (
	unmarshalerType     = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
	textUnmarshalerType = reflect.TypeOf((*interface{ UnmarshalText([]byte) error })(nil)).Elem()
)

// yamlFields maps the YAML names of t's fields (following ",inline") to
// their types.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(opts, "inline") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			for k, v := range yamlFields(ft) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

func suggest(k string, fields map[string]reflect.Type) string {
	best, bestD := "", 3
	for name := range fields {
		if d := distance(k, name); d < bestD || (d == bestD && name < best) {
			best, bestD = name, d
		}
	}
	if best == "" {
		names := make([]string, 0, len(fields))
		for name := range fields {
			names = append(names, name)
		}
		sort.Strings(names)
		return " (known keys: " + strings.Join(names, ", ") + ")"
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// distance is the Levenshtein distance, for "did you mean" hints.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

var typeErrorLine = regexp.MustCompile(`^line (\d+): (.*)$`)

// typeErrorProblem turns one of yaml.v3's type error messages ("line 30:
// cannot unmarshal !!str `fast` into int") into its line and a message that
// says what the key wants.
func typeErrorProblem(msg string) (line int, text, got string) {
	m := typeErrorLine.FindStringSubmatch(msg)
	if m == nil {
		return 0, msg, ""
	}
	line, _ = strconv.Atoi(m[1])
	text = m[2]
	if i := strings.IndexByte(text, '`'); i >= 0 {
		if j := strings.IndexByte(text[i+1:], '`'); j >= 0 {
			got = text[i+1 : i+1+j]
		}
	}
	into := text[strings.LastIndex(text, " into ")+len(" into "):]
	want := ""
	switch {
	case into == "time.Duration":
		want = "a duration like 30s or 1m30s"
	case strings.HasPrefix(into, "int") || strings.HasPrefix(into, "uint") || strings.HasPrefix(into, "float"):
		want = "a number"
	case into == "bool":
		want = "true or false"
	case into == "string":
		want = "a single value"
	case strings.HasPrefix(into, "[]"):
		want = "a list"
	case strings.HasPrefix(into, "map["):
		want = "a mapping"
	default:
		want = "a mapping"
		if !strings.Contains(into, ".") {
			return line, text, got
		}
	}
	if got != "" {
		return line, fmt.Sprintf("want %s, got %q", want, got), got
	}
	return line, "want " + want, got
}

// keyAtLine is the key a type error on line is about (yaml.v3 names a line,
// not a key): the one written there whose value is got (several keys share
// a line in a flow mapping), else the deepest one written there.
func keyAtLine(lines map[string]int, values map[string]string, line int, got string) string {
	match, deepest := "", ""
	for k, l := range lines {
		if l != line {
			continue
		}
		if got != "" && values[k] == got && (match == "" || k < match) {
			match = k
		}
		if len(k) > len(deepest) || (len(k) == len(deepest) && k < deepest) {
			deepest = k
		}
	}
	if match != "" {
		return match
	}
	return deepest
}
