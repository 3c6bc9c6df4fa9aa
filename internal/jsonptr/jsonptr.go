// Package jsonptr reads and rewrites JSON bodies at RFC 6901 pointers, for
// CRM profiles (docs/profiles.md): the classifier reads the object, fields
// and filters of a request at pointers, removes the caller's own credential
// members, and the credential stage writes the gateway's at pointers.
//
// Bodies are decoded with go-json-experiment, which refuses duplicate
// member names and invalid UTF-8: a body a CRM could read two ways is an
// error here, never guessed.
package jsonptr

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Valid reports whether p is "" or a well-formed pointer ("/a/b~1c/0").
func Valid(p string) bool { return p == "" || jsontext.Pointer(p).IsValid() }

// Tokens splits a pointer into its unescaped reference tokens.
func Tokens(p string) []string {
	var out []string
	for t := range jsontext.Pointer(p).Tokens() {
		out = append(out, t)
	}
	return out
}

// Parse decodes one JSON value. Duplicate member names, invalid UTF-8,
// trailing data and member names that differ only in case, '_' or '-' (a
// lenient CRM parser may take either one) are errors.
func Parse(body []byte) (any, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, errors.New("empty body")
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, err
	}
	if p, ok := foldCollision(v, ""); ok {
		return nil, fmt.Errorf("ambiguous member names at %q (they differ only in case, '_' or '-')", p)
	}
	return v, nil
}

// Fold is the form of a member name lenient JSON binders match on:
// lower case, without '_' and '-'.
func Fold(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r != '_' && r != '-' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func foldCollision(v any, at string) (string, bool) {
	switch x := v.(type) {
	case map[string]any:
		seen := make(map[string]bool, len(x))
		for k, e := range x {
			f := Fold(k)
			if seen[f] {
				return at, true
			}
			seen[f] = true
			if p, ok := foldCollision(e, at+"/"+escape(k)); ok {
				return p, true
			}
		}
	case []any:
		for i, e := range x {
			if p, ok := foldCollision(e, at+"/"+strconv.Itoa(i)); ok {
				return p, true
			}
		}
	}
	return "", false
}

func escape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// Get returns the value at p in a document from Parse.
func Get(doc any, p string) (any, bool) {
	cur := doc
	for t := range jsontext.Pointer(p).Tokens() {
		switch x := cur.(type) {
		case map[string]any:
			v, ok := x[t]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(t)
			if err != nil || i < 0 || i >= len(x) || strconv.Itoa(i) != t {
				return nil, false
			}
			cur = x[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// Member is a member to write: Pointer names it (its parent must be an
// object in the body), Value is its JSON value.
type Member struct {
	Pointer string
	Value   jsontext.Value
}

// Rewrite copies body, dropping every member whose pointer's parent is one
// of remove's parents and whose name equals remove's last token under Fold
// (so "CorpAccessToken" goes with "corpAccessToken"), and writing each of
// set as the first members of its parent object (any member of that name,
// under Fold, is dropped). A set member whose parent object is missing is
// an error: the gateway's value would silently not be sent.
func Rewrite(body []byte, remove []string, set []Member) ([]byte, error) {
	type key struct{ parent, fold string }
	drop := map[key]bool{}
	for _, p := range remove {
		pp := jsontext.Pointer(p)
		drop[key{string(pp.Parent()), Fold(pp.LastToken())}] = true
	}
	adds := map[string][]Member{}
	for _, m := range set {
		pp := jsontext.Pointer(m.Pointer)
		if m.Pointer == "" {
			return nil, errors.New("jsonptr: cannot set the root")
		}
		drop[key{string(pp.Parent()), Fold(pp.LastToken())}] = true
		adds[string(pp.Parent())] = append(adds[string(pp.Parent())], m)
	}
	dec := jsontext.NewDecoder(bytes.NewReader(body))
	var out bytes.Buffer
	enc := jsontext.NewEncoder(&out)
	written := map[string]bool{}
	for {
		kind := dec.PeekKind()
		if kind == 0 {
			if _, err := dec.ReadToken(); err != nil && err != io.EOF {
				return nil, err
			}
			break
		}
		if kind == '"' && dec.StackDepth() > 0 {
			if k, _ := dec.StackIndex(dec.StackDepth()); k == '{' && isName(dec) {
				tok, err := dec.ReadToken()
				if err != nil {
					return nil, err
				}
				ptr := dec.StackPointer()
				if drop[key{string(ptr.Parent()), Fold(tok.String())}] {
					if err := dec.SkipValue(); err != nil {
						return nil, err
					}
					continue
				}
				if err := enc.WriteToken(tok); err != nil {
					return nil, err
				}
				continue
			}
		}
		tok, err := dec.ReadToken()
		if err != nil {
			return nil, err
		}
		if err := enc.WriteToken(tok); err != nil {
			return nil, err
		}
		if tok.Kind() == '{' {
			parent := string(dec.StackPointer())
			for _, m := range adds[parent] {
				if err := enc.WriteToken(jsontext.String(jsontext.Pointer(m.Pointer).LastToken())); err != nil {
					return nil, err
				}
				if err := enc.WriteValue(m.Value); err != nil {
					return nil, err
				}
				written[m.Pointer] = true
			}
		}
	}
	for _, m := range set {
		if !written[m.Pointer] {
			return nil, fmt.Errorf("jsonptr: no object at %q to hold %q", string(jsontext.Pointer(m.Pointer).Parent()), m.Pointer)
		}
	}
	return bytes.TrimRight(out.Bytes(), "\n"), nil
}

// isName reports whether the decoder's next token is a member name: inside
// an object an even number of tokens (names and values) has been read.
func isName(dec *jsontext.Decoder) bool {
	_, n := dec.StackIndex(dec.StackDepth())
	return n%2 == 0
}
