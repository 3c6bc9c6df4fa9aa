// Package tmplref reads and fills the {name} references of the templates
// a CRM profile writes (docs/profiles.md): crm/profile checks the names a
// template uses when the profile is loaded, identity fills them with the
// credential when a request is sent. Both use these two functions, so a
// template means the same to the validator as to the request.
//
// Hand-written rather than text/template: the templates are JSON or URL
// text whose own braces must pass through untouched, and a reference is
// only a name between braces, with no expressions.
package tmplref

import "strings"

// Refs lists the names between braces in tmpl, in order ("{a} and {b.c}"
// gives "a", "b.c"). A '{' without a closing '}' ends the list.
func Refs(tmpl string) []string {
	var out []string
	for {
		i := strings.IndexByte(tmpl, '{')
		if i < 0 {
			return out
		}
		j := strings.IndexByte(tmpl[i:], '}')
		if j < 0 {
			return out
		}
		out = append(out, tmpl[i+1:i+j])
		tmpl = tmpl[i+j+1:]
	}
}

// Expand replaces each {ref} of tmpl for which known(ref) is true by
// get(ref); every other brace (a JSON object's, an unknown name's) is
// left as it is.
func Expand(tmpl string, known func(ref string) bool, get func(ref string) string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(tmpl, '{')
		if i < 0 {
			b.WriteString(tmpl)
			return b.String()
		}
		j := strings.IndexByte(tmpl[i:], '}')
		ref := ""
		if j > 0 {
			ref = tmpl[i+1 : i+j]
		}
		if j <= 0 || !known(ref) {
			b.WriteString(tmpl[:i+1])
			tmpl = tmpl[i+1:]
			continue
		}
		b.WriteString(tmpl[:i])
		b.WriteString(get(ref))
		tmpl = tmpl[i+j+1:]
	}
}
