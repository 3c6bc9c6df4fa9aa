package profile

import (
	"errors"
	"strings"
)

// segment is one segment of a path template: a literal (matched
// case-insensitively) or a {param} taking one whole segment.
type segment struct {
	lit   string
	param string
}

func parseTemplate(t string) ([]segment, error) {
	if !strings.HasPrefix(t, "/") {
		return nil, errors.New("want a path starting with /")
	}
	var out []segment
	seen := map[string]bool{}
	for _, s := range strings.Split(strings.Trim(t, "/"), "/") {
		switch {
		case s == "":
			if t != "/" {
				return nil, errors.New("empty segment")
			}
		case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}"):
			name := s[1 : len(s)-1]
			if name == "" || strings.ContainsAny(name, "{}") {
				return nil, errors.New("bad parameter " + s)
			}
			if seen[name] {
				return nil, errors.New("parameter {" + name + "} used twice")
			}
			seen[name] = true
			out = append(out, segment{param: name})
		case strings.ContainsAny(s, "{}"):
			return nil, errors.New("a parameter must be a whole segment: " + s)
		case s == "." || s == "..":
			return nil, errors.New("dot segment")
		default:
			out = append(out, segment{lit: s})
		}
	}
	return out, nil
}

// matchPath matches a decoded, normalised path against a template and
// returns the parameters. A parameter never matches an empty segment.
func matchPath(tmpl []segment, path string) (map[string]string, bool) {
	rest := strings.Trim(path, "/")
	var params map[string]string
	for i, s := range tmpl {
		if rest == "" {
			return nil, false
		}
		seg := rest
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			seg, rest = rest[:j], rest[j+1:]
		} else {
			rest = ""
		}
		if seg == "" {
			return nil, false // an empty segment ("a//b") matches nothing
		}
		if s.param != "" {
			if params == nil {
				params = make(map[string]string, len(tmpl)-i)
			}
			params[s.param] = seg
			continue
		}
		if !strings.EqualFold(seg, s.lit) {
			return nil, false
		}
	}
	if rest != "" {
		return nil, false
	}
	return params, true
}
