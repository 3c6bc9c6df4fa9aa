// Package crm turns an HTTP request aimed at a CRM API into the CRM action it
// performs (operation, category, object, fields, record id, query), and says
// what shape the response body will have so the masking stage can find the
// records in it. It knows Salesforce, Zoho CRM and profile-described CRMs.
//
// Classification is deny-biased: a path that cannot be canonicalised is
// rejected, and anything that cannot be recognised is OperationUnknown,
// never guessed as harmless.
package crm

// Operation is what a request does, as the policy input contract names it.
type Operation string

// Operations of the policy-input contract (DESIGN.md).
const (
	OpRead       Operation = "read"
	OpList       Operation = "list"
	OpQuery      Operation = "query"
	OpSearch     Operation = "search"
	OpCreate     Operation = "create"
	OpUpdate     Operation = "update"
	OpUpsert     Operation = "upsert"
	OpDelete     Operation = "delete"
	OpBulkQuery  Operation = "bulk_query"
	OpBulkResult Operation = "bulk_result"
	OpBulkIngest Operation = "bulk_ingest"
	OpReport     Operation = "report"
	OpDescribe   Operation = "describe"
	OpComposite  Operation = "composite"
	OpUnknown    Operation = "unknown"
)

// Category groups operations by risk.
type Category string

// Categories of the policy-input contract.
const (
	CatRead     Category = "read"
	CatWrite    Category = "write"
	CatExport   Category = "export"
	CatBulk     Category = "bulk"
	CatMetadata Category = "metadata"
	CatUnknown  Category = "unknown"
)

// Action is the classified CRM action; its JSON form is `input.action`.
type Action struct {
	Operation Operation `json:"operation"`
	Category  Category  `json:"category"`
	Object    string    `json:"object"`
	// Fields are the fields the request names (SOQL select list, ?fields=,
	// body keys of a write). Relationship paths keep their dots.
	Fields []string `json:"fields"`
	// AllFields is true for FIELDS(ALL|STANDARD|CUSTOM), SELECT * style
	// requests and reads without a field list: every field may come back.
	AllFields bool   `json:"all_fields"`
	RecordID  string `json:"record_id"`
	Query     string `json:"query"`
	// Parent is set on a sub-request of a composite/batch request.
	Parent *Action `json:"parent"`
}
