package samplecrm

import (
	"net/http"
	"strconv"
	"strings"
)

// zohoGraphQL answers POST /crm/graphql, Zoho's GraphQL shape:
//
//	{ Records { Contacts(limit: 5, offset: 0) { _data { Email { value }
//	  Account_Name { Account_Name { value } } } _info { more_records count } } } }
//
// Aliases are honoured at every level (module, _data, _info, fields,
// value), as Zoho does: the response keys are the aliases.
func (s *Server) zohoGraphQL(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		zohoError(w, http.StatusMethodNotAllowed, "INVALID_REQUEST_METHOD", "The http request method type is not a valid one", nil)
		return
	}
	sels, _, ok := readGraphQL(w, r)
	if !ok {
		return
	}
	recs := findSel(sels, "Records")
	if recs == nil {
		gqlError(w, "the sample CRM answers { Records { <Module> { ... } } } only")
		return
	}
	b := []byte(`{"data":{`)
	b = appendString(b, recs.key())
	b = append(b, ":{"...)
	for k, ms := range recs.sels {
		m := s.modules[strings.ToLower(ms.name)]
		if m == nil {
			gqlError(w, "Validation error: module '"+ms.name+"' is undefined")
			return
		}
		if k > 0 {
			b = append(b, ',')
		}
		b = appendString(b, ms.key())
		b = append(b, ':')
		var err error
		if b, err = s.zohoGraphQLModule(b, m, ms); err != nil {
			gqlError(w, err.Error())
			return
		}
	}
	writeJSON(w, http.StatusOK, append(b, "}}}"...))
}

func (s *Server) zohoGraphQLModule(b []byte, m *zmodule, ms *gsel) ([]byte, error) {
	limit, offset := 200, 0
	if a := ms.args["limit"]; a != nil {
		if n, err := strconv.Atoi(a.s); err == nil && n > 0 && n <= 200 {
			limit = n
		}
	}
	if a := ms.args["offset"]; a != nil {
		if n, err := strconv.Atoi(a.s); err == nil && n >= 0 {
			offset = n
		}
	}
	t := m.obj.snapshot()
	var live []int32
	for i, r := range t.rows {
		if !r.deleted {
			live = append(live, int32(i))
		}
	}
	start := min(offset, len(live))
	end := min(start+limit, len(live))
	b = append(b, '{')
	for k, part := range ms.sels {
		if k > 0 {
			b = append(b, ',')
		}
		b = appendString(b, part.key())
		b = append(b, ':')
		switch part.name {
		case "_data":
			b = append(b, '[')
			for n, i := range live[start:end] {
				if n > 0 {
					b = append(b, ',')
				}
				var err error
				if b, err = zohoGraphQLRecord(b, m, t, i, part.sels); err != nil {
					return nil, err
				}
			}
			b = append(b, ']')
		case "_info":
			b = append(b, '{')
			for n, f := range part.sels {
				if n > 0 {
					b = append(b, ',')
				}
				b = appendString(b, f.key())
				b = append(b, ':')
				switch f.name {
				case "more_records":
					b = strconv.AppendBool(b, end < len(live))
				case "count":
					b = strconv.AppendInt(b, int64(end-start), 10)
				default:
					b = append(b, "null"...)
				}
			}
			b = append(b, '}')
		default:
			return nil, stringError("Validation error: field '" + part.name + "' is undefined on " + m.name)
		}
	}
	return append(b, '}'), nil
}

// zohoGraphQLRecord writes one record: each selected field as {value},
// a lookup's selected fields from the record it points to.
func zohoGraphQLRecord(b []byte, m *zmodule, t *table, i int32, sels []*gsel) ([]byte, error) {
	r := t.rows[i]
	b = append(b, '{')
	for n, fs := range sels {
		if n > 0 {
			b = append(b, ',')
		}
		b = appendString(b, fs.key())
		b = append(b, ':')
		if fs.name == "id" {
			b = append(b, `{"value":"`+zohoID(m.code, i)+`"}`...)
			continue
		}
		f := m.field(fs.name)
		if f == nil {
			return nil, stringError("Validation error: field '" + fs.name + "' is undefined on " + m.name)
		}
		if f.kind == kLookup && findSel(fs.sels, "value") == nil {
			lt := f.lookup.obj.snapshot()
			j, ok := lt.byID[r.v[f.col]]
			if !ok {
				b = append(b, "null"...)
				continue
			}
			var err error
			if b, err = zohoGraphQLRecord(b, f.lookup, lt, j, fs.sels); err != nil {
				return nil, err
			}
			continue
		}
		b = append(b, '{')
		for k, v := range fs.sels {
			if k > 0 {
				b = append(b, ',')
			}
			b = appendString(b, v.key())
			b = append(b, ':')
			b = f.appendZValue(b, r)
		}
		b = append(b, '}')
	}
	return append(b, '}'), nil
}
