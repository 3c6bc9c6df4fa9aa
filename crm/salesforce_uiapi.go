// Salesforce User Interface API (/ui-api): records, list records, related
// lists and metadata (object-info, layout, list-info).

package crm

import (
	"net/http"
	"strings"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/crmgw/crmgw/internal/bodyshape"
)

var sfUIShape = ResponseShape{Format: bodyshape.JSON, Vendor: vendorSalesforce, Kind: bodyshape.UIAPI}

func (c *Classifier) sfUIAPI(in *input, rest []string, res *Result) {
	m := in.method
	if len(rest) == 0 {
		return
	}
	switch {
	case strings.EqualFold(rest[0], "records"):
		switch {
		case len(rest) == 1 && m == http.MethodPost:
			var body struct {
				APIName string                    `json:"apiName"`
				Fields  map[string]jsontext.Value `json:"fields"`
			}
			if !strictObject(in.body, &body, "apiName", "fields", "allowSaveOnDuplicate") || !isObjectName(body.APIName) {
				return
			}
			res.Action = Action{Operation: OpCreate, Category: CatWrite, Object: canonSFObject(body.APIName), Fields: objectKeys(body.Fields)}
			res.Response = sfUIShape
		case len(rest) == 2:
			obj, ok := objectFromID(rest[1])
			if !ok {
				return
			}
			switch {
			case isRead(m):
				a := Action{Operation: OpRead, Category: CatRead, Object: obj, RecordID: rest[1]}
				if !uiFields(in.rawQuery, &a) || !c.uiChildRelationships(in.rawQuery, &a) {
					return
				}
				res.Action = a
			case m == http.MethodPatch:
				var body struct {
					Fields map[string]jsontext.Value `json:"fields"`
				}
				if !strictObject(in.body, &body, "fields", "apiName") {
					return
				}
				res.Action = Action{Operation: OpUpdate, Category: CatWrite, Object: obj, RecordID: rest[1], Fields: objectKeys(body.Fields)}
			case m == http.MethodDelete:
				res.Action = Action{Operation: OpDelete, Category: CatWrite, Object: obj, RecordID: rest[1]}
			default:
				return
			}
			res.Response = sfUIShape
		case len(rest) == 3 && strings.EqualFold(rest[1], "batch") && isRead(m):
			obj := ""
			for _, id := range strings.Split(rest[2], ",") {
				o, ok := objectFromID(id)
				if !ok || (obj != "" && o != obj) {
					return
				}
				obj = o
			}
			a := Action{Operation: OpList, Category: CatRead, Object: obj, RecordID: rest[2]}
			if !uiFields(in.rawQuery, &a) || !c.uiChildRelationships(in.rawQuery, &a) {
				return
			}
			res.Action = a
			res.Response = sfUIShape
		}
	case (strings.EqualFold(rest[0], "list-records") || strings.EqualFold(rest[0], "list-ui")) && len(rest) >= 2 && (isRead(m) || m == http.MethodPost):
		if !isObjectName(rest[1]) {
			return
		}
		a := Action{Operation: OpList, Category: CatRead, Object: canonSFObject(rest[1]), AllFields: true}
		if !c.uiListPlan(in, &a) {
			return
		}
		res.Action = a
		res.Response = sfUIShape
	case strings.EqualFold(rest[0], "related-list-records") && len(rest) == 3 && (isRead(m) || m == http.MethodPost):
		obj, ok := relationshipTarget(rest[2])
		if !ok {
			return
		}
		a := Action{Operation: OpList, Category: CatRead, Object: obj, RecordID: rest[1], AllFields: true, Mode: "relationship"}
		if !c.uiListPlan(in, &a) {
			return
		}
		res.Action = a
		res.Response = sfUIShape
	case (strings.EqualFold(rest[0], "object-info") || strings.EqualFold(rest[0], "layout") || strings.EqualFold(rest[0], "list-info")) && isRead(m):
		res.Action = metaAction("", "")
		res.Response = sfMetadata
	}
}

// uiFields reads fields= and optionalFields= ("Contact.Email" style); a
// layout-based request (no list) may return every field.
func uiFields(raw string, a *Action) bool {
	for _, p := range [...]string{"fields", "optionalFields"} {
		v, n, ok := queryParam(raw, p)
		if !ok || n > 1 {
			return false
		}
		for _, f := range splitList(v) {
			if len(f) > len(a.Object)+1 && strings.EqualFold(f[:len(a.Object)+1], a.Object+".") {
				f = f[len(a.Object)+1:]
			}
			a.Fields = addUnique(a.Fields, f)
		}
	}
	if _, n, _ := queryParam(raw, "layoutTypes"); n > 0 || len(a.Fields) == 0 {
		a.AllFields = true
	}
	return true
}
