package samplecrm

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// zohoSettings serves the metadata the official Zoho SDKs read before any
// record call: settings/modules and settings/fields?module=X (shapes after
// Zoho CRM API v8's Modules and Fields metadata APIs; only the keys the
// SDKs read are filled).
func (s *Server) zohoSettings(w http.ResponseWriter, r *http.Request, segs []string) {
	if r.Method != http.MethodGet || len(segs) != 2 {
		zohoError(w, http.StatusNotFound, "INVALID_URL_PATTERN", "Please check if the URL trying to access is a correct one", nil)
		return
	}
	switch strings.ToLower(segs[1]) {
	case "modules":
		mods := []map[string]any{}
		for _, m := range s.modOrder {
			if m.name == "users" {
				continue
			}
			mods = append(mods, map[string]any{
				"api_name": m.name, "module_name": m.name, "singular_label": strings.TrimSuffix(m.name, "s"),
				"plural_label": m.name, "id": strconv.FormatInt(zohoBase+m.code, 10), "api_supported": true,
				"generated_type": "default", "creatable": true, "editable": true, "deletable": true, "viewable": true,
			})
		}
		writeZohoJSON(w, map[string]any{"modules": mods})
	case "fields":
		m := s.modules[strings.ToLower(r.URL.Query().Get("module"))]
		if m == nil || m.name == "users" {
			zohoError(w, http.StatusBadRequest, "INVALID_MODULE", "the module name given seems to be invalid", map[string]string{"param_name": "module"})
			return
		}
		fields := []map[string]any{{
			"api_name": "id", "field_label": "Record Id", "data_type": "bigint", "json_type": "string",
			"id": strconv.FormatInt(zohoBase+m.code*1000, 10), "system_mandatory": false, "read_only": true,
		}}
		for i, f := range m.fields {
			dataType, jsonType := zohoFieldType(f)
			fd := map[string]any{
				"api_name": f.name, "field_label": strings.ReplaceAll(f.name, "_", " "), "data_type": dataType,
				"json_type": jsonType, "id": strconv.FormatInt(zohoBase+m.code*1000+int64(i)+1, 10),
				"system_mandatory": false, "read_only": f.col < 0,
			}
			if f.lookup != nil {
				fd["lookup"] = map[string]any{"module": map[string]any{"api_name": f.lookup.name}}
			}
			fields = append(fields, fd)
		}
		writeZohoJSON(w, map[string]any{"fields": fields})
	default:
		zohoError(w, http.StatusNotFound, "INVALID_URL_PATTERN", "Please check if the URL trying to access is a correct one", nil)
	}
}

// zohoFieldType maps a field to Zoho's data_type and json_type.
func zohoFieldType(f *zfield) (string, string) {
	switch f.kind {
	case kEmail:
		return "email", "string"
	case kPhone:
		return "phone", "string"
	case kNumber:
		return "double", "double"
	case kInt:
		return "integer", "integer"
	case kBool:
		return "boolean", "boolean"
	case kDate:
		return "date", "string"
	case kDateTime:
		return "datetime", "string"
	case kPicklist:
		return "picklist", "string"
	case kLookup:
		return "lookup", "jsonobject"
	case kRawJSON:
		return "ownerlookup", "jsonobject"
	}
	return "text", "string"
}

func writeZohoJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		zohoError(w, http.StatusInternalServerError, "INTERNAL_ERROR", "internal error", nil)
		return
	}
	writeJSON(w, http.StatusOK, b)
}
