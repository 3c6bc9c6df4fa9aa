package masking

import (
	"strings"

	"github.com/crmgw/crmgw/internal/bodyshape"
)

// This file describes, as data, where each family of CRM response body
// keeps its records: the member names that lead from the body's root to
// its record lists, records and report cells, and what each container on
// the way means (its role). The rewriter's open (json.go) walks these
// descriptions; it holds no member name of its own. The record model
// (a record's related records, field arrays and {value} wrappers) is the
// same for every family and stays code in open. docs/classification.md
// ("Response shapes") lists the shapes; docs/architecture.md says how to
// add one.

// mode is the response shape family the JSON rewriter navigates. The
// fast paths (fastpath.go) serve modeSalesforce only.
type mode uint8

const (
	modeSalesforce mode = iota // records carry attributes.type (query, retrieve, collections, search, composite)
	modeGraphQL                // data.uiapi.query.{Object}.edges[].node, fields as {value}
	modeUIAPI                  // apiName + fields.{Name}.value
	modeListView               // records[].columns[] {fieldNameOrPath, value}
	modeReport                 // factMap[*].rows[].dataCells[], columns from reportMetadata.detailColumns
	modeZoho                   // data[] (or a top-level array) of records of Options.Object
)

// role is what a container means in the shape being rewritten.
type role uint8

const (
	rolePlain         role = iota // no masking inside (wrappers, metadata)
	roleRecord                    // object whose members are fields of typ
	roleAttributes                // Salesforce attributes object of a record
	roleList                      // array of top-level records: counted and capped
	roleRootArray                 // Salesforce top-level array (collections): capped, counted when typed
	roleFieldArray                // array value of a record field
	roleWrapper                   // {value, displayValue} of field `field` (GraphQL, UI API)
	roleUIRecord                  // UI API record: apiName, fields, ...
	roleUIFields                  // UI API fields object
	roleGQLPath                   // data / uiapi / query navigation (step counts levels)
	roleGQLObject                 // query.{Object}
	roleGQLEdge                   // edges[] element
	roleDetailColumns             // report detailColumns
	roleFactMap                   // report factMap and its entries
	roleReportRow                 // rows[] element
	roleReportCells               // dataCells
	roleReportCell                // one cell
	roleLVRecord                  // list view record
	roleLVColumns                 // its columns
	roleLVColumn                  // one {fieldNameOrPath, value}
	roleInfo                      // Zoho info
	roleBody                      // in a shape's edges only: the parent of the body's root container
	numRoles
)

// container says which containers an edge leads to.
type container uint8

const (
	anyContainer container = iota
	object
	array
)

// cond is what an edge needs besides its parent's role, container and
// member name (a bit set).
type cond uint8

const (
	inObject       cond = 1 << iota // the parent is an object (the child is its member, not an element)
	atRoot                          // the parent is the body's root container
	aliased                         // a name may be a GraphQL alias the request's plan gives for it (Options.Plan)
	anyUnderPlan                    // with a plan, any name leads on: an alias the plan does not name still finds the records
	parentWrapping                  // the parent is an undecided top-level object (frameState.maybeWrp)
	atStep                          // the parent's step is the edge's step (GraphQL path depth)
)

// effect is what an edge does to the child besides giving its role (a bit set).
type effect uint16

const (
	top                effect = 1 << iota // a top-level record
	topIfOutside                          // a top-level record unless inside one
	wrapIfOutside                         // unless inside a record: maybe a result wrapper, decided by its members (wrapperMembers)
	hold                                  // a top-level record under a cap: its output is held until its type is known (jsonRewriter.holding)
	count                                 // an element of a record list: counted now
	parentType                            // the record type is the parent's
	connectionType                        // the record type is the member's name, or the object the plan's alias stands for
	optionsType                           // the record type is Options.Object
	optionsTypeUnknown                    // the record type is Options.Object, but not known to be it (Zoho composite sub-responses)
	fieldFromName                         // a wrapper or field array of the field the member names
	fieldFromParent                       // a wrapper or field array of the parent's field
	resetColumns                          // a report's detail columns start again
	cellColumn                            // a report cell: its column is its index in the row
	unwrapParent                          // the parent was a result wrapper, not a record
)

// edge is one step of a shape: in a container of role from, a child
// container of kind under one of names (any name when names is nil; any
// element of an array) gets role to, and the effects of then.
type edge struct {
	from   role
	kind   container
	names  []string
	when   cond
	step   int8 // atStep: the parent's step
	to     role
	then   effect
	toStep int8   // roleGQLPath children: their step
	typ    string // when set, the child is a record of this type
}

// The member names the record model reads: the same in every body of
// their vendor, wherever its shape puts the record.
const (
	memberAttributes     = "attributes"      // Salesforce: a record's type object
	memberType           = "type"            // in it: the record's type
	memberAPIName        = "apiName"         // UI API: a record's type
	memberValue          = "value"           // GraphQL and UI API {value, displayValue} wrappers; a list view column's value
	memberDisplayValue   = "displayValue"    // a wrapper's formatted value
	memberColumnName     = "fieldNameOrPath" // a list view column's field
	memberAggregate      = "aggregate"       // GraphQL: a record's aggregate results
	memberTotalSize      = "totalSize"       // Salesforce query paging, rewritten at a cap
	memberDone           = "done"            // likewise
	memberNextRecordsURL = "nextRecordsUrl"  // likewise: dropped at a cap
	memberMoreRecords    = "more_records"    // Zoho info paging, rewritten at a cap
	memberPageToken      = "next_page_token" // likewise: dropped at a cap
	typeAggregateResult  = "AggregateResult" // Salesforce GROUP BY rows: fields of several objects
)

// wrapperMembers show a top-level Salesforce object (the body, a
// composite sub-response's body) to be a result wrapper rather than a
// record.
var wrapperMembers = [...]string{"totalSize", "done", "nextRecordsUrl", "records", "searchRecords",
	"compositeResponse", "results", "hasErrors", "graphs", "queryLocator"}

// shape is one family of response body.
type shape struct {
	mode mode
	// attributes is the member of a record that holds its type object
	// ("attributes" in Salesforce); "" when records carry no such object.
	attributes string
	// nestedRecords: records are wherever the record's type member shows
	// up, at any depth (UI API apiName).
	nestedRecords bool
	edges         []edge
	// byRole is edges by their parent's role, made once (init).
	byRole [numRoles][]edge
}

var (
	salesforceShape = shape{
		mode:       modeSalesforce,
		attributes: memberAttributes,
		edges: []edge{
			{from: roleBody, kind: object, to: roleRecord, then: topIfOutside | wrapIfOutside},
			{from: roleBody, kind: array, to: roleRootArray},
			{from: rolePlain, kind: array, names: []string{"records", "searchRecords"}, to: roleList},
			// A composite sub-response's or batch result's body: a record,
			// a query result or an error list, decided by its first member.
			{from: rolePlain, kind: object, names: []string{"body", "result"}, when: inObject, to: roleRecord, then: topIfOutside | wrapIfOutside | hold},
			{from: roleRootArray, kind: object, to: roleRecord, then: top},
			{from: roleList, kind: object, to: roleRecord, then: count | top},
			{from: roleRecord, kind: object, names: []string{memberAttributes}, to: roleAttributes},
		},
	}

	zohoEdges = []edge{
		{from: roleBody, kind: array, to: roleList},
		{from: rolePlain, kind: object, names: []string{"info"}, when: inObject | atRoot, to: roleInfo},
		{from: roleList, kind: object, to: roleRecord, then: count | optionsType},
		// A lookup to a user is a record of the users module.
		{from: roleRecord, kind: object, names: []string{"Owner", "Created_By", "Modified_By"}, to: roleRecord, typ: "users"},
	}
	zohoShape = shape{
		mode: modeZoho,
		edges: append([]edge{
			{from: rolePlain, kind: array, names: []string{"data"}, when: inObject | atRoot, to: roleList},
		}, zohoEdges...),
	}
	// Zoho's composite: __composite_requests[].details.response.body.data[],
	// each sub-request of its own module, so the records' type is unknown.
	zohoCompositeShape = shape{
		mode: modeZoho,
		edges: append([]edge{
			{from: rolePlain, kind: array, names: []string{"data"}, when: inObject, to: roleList},
			{from: roleList, kind: object, to: roleRecord, then: count | optionsTypeUnknown},
		}, zohoEdges...),
	}

	// GraphQL: data.uiapi.query.{Object}.edges[].node in Salesforce
	// (data.uiapi.aggregate.{Object}... for aggregates); every object
	// member of a record is a {value} wrapper of its field.
	graphQLRecordEdges = []edge{
		{from: roleRecord, kind: object, to: roleWrapper, then: fieldFromName | parentType},
		{from: roleFieldArray, kind: object, to: roleWrapper, then: fieldFromParent},
	}
	salesforceGraphQLShape = shape{
		mode: modeGraphQL,
		edges: append([]edge{
			{from: roleBody, to: roleGQLPath},
			{from: roleGQLPath, kind: object, names: []string{"data"}, when: atStep, step: 0, to: roleGQLPath, toStep: 1},
			{from: roleGQLPath, kind: object, names: []string{"uiapi"}, when: atStep | aliased | anyUnderPlan, step: 1, to: roleGQLPath, toStep: 2},
			{from: roleGQLPath, kind: object, names: []string{"query", "aggregate"}, when: atStep | aliased | anyUnderPlan, step: 2, to: roleGQLPath, toStep: 3},
			{from: roleGQLPath, kind: object, when: atStep, step: 3, to: roleGQLObject, then: connectionType},
			{from: roleGQLObject, kind: array, names: []string{"edges"}, when: aliased | anyUnderPlan, to: roleList, then: parentType},
			{from: roleList, kind: object, to: roleGQLEdge, then: count | parentType},
			// Any object of an edge is its node (the other member of an
			// edge is its cursor, a string).
			{from: roleGQLEdge, kind: object, names: []string{"node"}, when: aliased | anyUnderPlan, to: roleRecord, then: parentType},
		}, graphQLRecordEdges...),
	}
	// Zoho (and a profile CRM's) GraphQL: data.Records.{Module}._data[].
	zohoGraphQLShape = shape{
		mode: modeGraphQL,
		edges: append([]edge{
			{from: roleBody, to: roleGQLPath},
			{from: roleGQLPath, kind: object, names: []string{"data"}, when: atStep, step: 0, to: roleGQLPath, toStep: 1},
			{from: roleGQLPath, kind: object, names: []string{"Records"}, when: atStep | aliased, step: 1, to: roleGQLPath, toStep: 3},
			{from: roleGQLPath, kind: object, when: atStep, step: 3, to: roleGQLObject, then: connectionType},
			{from: roleGQLObject, kind: array, names: []string{"edges", "_data"}, when: aliased | anyUnderPlan, to: roleList, then: parentType},
			{from: roleList, kind: object, to: roleRecord, then: count | parentType},
		}, graphQLRecordEdges...),
	}

	// UI API: a record (apiName, fields.{Name}.value) or records[] of them;
	// a field's value may be a record again.
	uiAPIShape = shape{
		mode:          modeUIAPI,
		nestedRecords: true,
		edges: []edge{
			{from: roleBody, kind: object, to: roleUIRecord, then: topIfOutside | wrapIfOutside},
			{from: rolePlain, kind: array, names: []string{"records"}, to: roleList},
			{from: roleList, kind: object, to: roleUIRecord, then: count | top},
			{from: roleUIRecord, kind: object, names: []string{"fields"}, to: roleUIFields, then: parentType},
			{from: roleUIRecord, kind: object, to: roleUIRecord},
			{from: roleUIRecord, kind: array, names: []string{"records"}, when: parentWrapping, to: roleList, then: unwrapParent},
			{from: roleUIRecord, kind: array, to: roleFieldArray}, // childRelationships lists and the like
			{from: roleUIFields, kind: object, to: roleWrapper, then: fieldFromName | parentType},
			{from: roleWrapper, kind: object, names: []string{"value"}, to: roleUIRecord},
		},
	}

	listViewShape = shape{
		mode: modeListView,
		edges: []edge{
			{from: rolePlain, kind: array, names: []string{"records"}, when: atRoot, to: roleList},
			{from: roleList, kind: object, to: roleLVRecord, then: count},
			{from: roleLVRecord, kind: array, names: []string{"columns"}, to: roleLVColumns},
			{from: roleLVColumns, kind: object, to: roleLVColumn},
		},
	}

	// Reports: the columns in reportMetadata.detailColumns, the rows in
	// factMap[*].rows[].dataCells[] (cell i is column i).
	reportShape = shape{
		mode: modeReport,
		edges: []edge{
			{from: rolePlain, kind: array, names: []string{"detailColumns"}, to: roleDetailColumns, then: resetColumns},
			{from: rolePlain, kind: object, names: []string{"factMap"}, to: roleFactMap},
			{from: roleFactMap, kind: object, to: roleFactMap},
			{from: roleFactMap, kind: array, names: []string{"rows"}, to: roleList},
			{from: roleList, kind: object, to: roleReportRow, then: count},
			{from: roleReportRow, kind: array, names: []string{"dataCells"}, to: roleReportCells},
			{from: roleReportCells, kind: object, to: roleReportCell, then: cellColumn},
		},
	}

	shapes = [...]*shape{&salesforceShape, &zohoShape, &zohoCompositeShape, &salesforceGraphQLShape,
		&zohoGraphQLShape, &uiAPIShape, &listViewShape, &reportShape}
)

func init() {
	for _, s := range shapes {
		for _, e := range s.edges {
			s.byRole[e.from] = append(s.byRole[e.from], e)
		}
	}
}

// shapeFor is the shape of the body opts describe: by its kind
// (crm.ResponseShape.Kind) and vendor. A profile CRM's bodies (vendor
// generic) are read as Zoho's: a list of records under data.
func shapeFor(o Options) *shape {
	if o.Vendor == "zoho" || o.Vendor == "generic" {
		switch o.Kind {
		case bodyshape.GraphQL:
			return &zohoGraphQLShape
		case bodyshape.Composite:
			return &zohoCompositeShape
		}
		return &zohoShape
	}
	switch o.Kind {
	case bodyshape.GraphQL:
		return &salesforceGraphQLShape
	case bodyshape.UIAPI:
		return &uiAPIShape
	case bodyshape.ListView:
		return &listViewShape
	case bodyshape.Report:
		return &reportShape
	}
	return &salesforceShape
}

// next is the first edge of the body's shape that leads from a container
// of role from (p; nil and roleBody for the root) to a child object
// (isObj) or array under p's current member name key; nil when none does,
// and the record model (open) decides.
func (w *jsonRewriter) next(from role, p *frame, isObj bool, key []byte) *edge {
	edges := w.shape.byRole[from]
	for i := range edges {
		e := &edges[i]
		if e.kind == object && !isObj || e.kind == array && isObj {
			continue
		}
		if e.when != 0 {
			if e.when&inObject != 0 && !p.isObj ||
				e.when&atRoot != 0 && len(w.frames) != 1 ||
				e.when&parentWrapping != 0 && !p.maybeWrp ||
				e.when&atStep != 0 && int(p.step) != int(e.step) {
				continue
			}
		}
		if e.names == nil || e.when&anyUnderPlan != 0 && w.opts.Plan != nil {
			return e
		}
		for _, n := range e.names {
			if e.when&aliased != 0 && w.gqlIs(key, n) || equalFold(key, n) {
				return e
			}
		}
	}
	return nil
}

// gqlIs reports whether the GraphQL response name key is word, or an alias
// the request's plan gives for it (Options.Plan).
func (w *jsonRewriter) gqlIs(key []byte, word string) bool {
	if equalFold(key, word) {
		return true
	}
	if w.opts.Plan == nil || len(w.opts.Plan.Aliases) == 0 {
		return false
	}
	v, ok := w.opts.Plan.Aliases[string(key)]
	return ok && strings.EqualFold(v, word)
}

// gqlObject is the object of a GraphQL connection named key: the plan's
// alias target when key is an alias, else key itself.
func (w *jsonRewriter) gqlObject(key []byte) []byte {
	if w.opts.Plan != nil && len(w.opts.Plan.Aliases) > 0 {
		if v, ok := w.opts.Plan.Aliases[string(key)]; ok && isName(v) && !gqlWords[strings.ToLower(v)] {
			return []byte(v)
		}
	}
	return key
}

// isWrapperKey reports whether k is one of wrapperMembers.
func isWrapperKey(k []byte) bool {
	for _, s := range wrapperMembers {
		if equalFold(k, s) {
			return true
		}
	}
	return false
}
