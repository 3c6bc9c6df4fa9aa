// Package bodyshape names the kinds of CRM response body the gateway
// knows: package crm says, next to the rule that recognises an endpoint,
// which kind its response will be (crm.ResponseShape.Kind), and package
// masking walks a body by that kind (masking.Options.Kind). Both stages
// import this leaf instead of each other (docs/architecture.md, "Dependency
// rules"), so the set is written once. docs/classification.md ("Response
// shapes") says where the records sit in each.
package bodyshape

// Kind is a response body's shape.
type Kind string

// The kinds of response body. Masking walks GraphQL, Report, UIAPI and
// ListView bodies each their own way, Zoho's Composite by its
// sub-responses, and a profile CRM's Records and Rows at the profile's
// pointers (docs/profiles.md); it reads every other kind where the vendor
// keeps records (Salesforce: any object with attributes.type; Zoho: data[]).
const (
	Records   Kind = "records"   // query, retrieve, collections: records[] / data[] / a record
	Search    Kind = "search"    // searchRecords[]
	GraphQL   Kind = "graphql"   // data.uiapi.query.{Object}.edges[].node; Zoho data.Records.{Module}._data[]
	Report    Kind = "report"    // factMap[*].rows[].dataCells[], columns in reportMetadata
	ListView  Kind = "listview"  // records[].columns[] of {fieldNameOrPath, value}
	UIAPI     Kind = "uiapi"     // apiName + fields.{Name}.value
	Composite Kind = "composite" // compositeResponse[].body; Zoho __composite_requests[]
	Batch     Kind = "batch"     // results[].result
	Graph     Kind = "graph"     // graphs[].graphResponse.compositeResponse[].body
	BulkCSV   Kind = "bulk_csv"  // CSV (or a ZIP holding one) with a header row
	Users     Kind = "users"     // Zoho users[]
	Job       Kind = "job"       // bulk job JSON, no records
	Result    Kind = "result"    // write result: ids and errors
	Metadata  Kind = "metadata"  // describe, limits
	Rows      Kind = "rows"      // a profile CRM's positional rows (crm.ResponseShape.Rows)
	None      Kind = "none"      // no body worth reading
	Error     Kind = "error"     // a non-2xx JSON answer, masked like records
	Unknown   Kind = "unknown"   // not classified
)

var known = map[Kind]bool{
	Records: true, Search: true, GraphQL: true, Report: true, ListView: true,
	UIAPI: true, Composite: true, Batch: true, Graph: true, BulkCSV: true,
	Users: true, Job: true, Result: true, Metadata: true, Rows: true,
	None: true, Error: true, Unknown: true,
}

// Known reports whether k is one of the kinds above. The type is a string
// so that a kind reads as itself in tests and traces; Known is how a test
// catches a kind spelt out by hand instead of named.
func (k Kind) Known() bool { return known[k] }

// Format is a response body's encoding, as far as masking reads it.
type Format string

// The formats of response body. A body in Unsupported is one the gateway
// cannot mask: the proxy refuses it rather than pass it on unread.
const (
	JSON        Format = "json"
	CSV         Format = "csv"
	ZipCSV      Format = "zip_csv" // a ZIP archive holding CSV files (Zoho bulk read)
	XML         Format = "xml"     // Salesforce Bulk API 1.0 results and job answers
	NoBody      Format = "none"    // no body worth reading
	Unsupported Format = "unsupported"
)
