package samplecrm

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Zoho modules are views over the Salesforce objects' rows: the same people,
// with Zoho field names, numeric ids and lookup objects.

// zfield is one Zoho field.
type zfield struct {
	name   string
	kind   kind
	col    int                 // Salesforce column, -1 when computed
	get    func(r *row) string // computed fields
	lookup *zmodule            // kLookup target (col holds the Salesforce reference)
}

// zmodule is a Zoho module.
type zmodule struct {
	name    string
	code    int64
	obj     *object
	fields  []*zfield
	byLower map[string]*zfield
	nameCol int
	email   bool // lookups to this module carry the email (users)
}

func (m *zmodule) field(name string) *zfield { return m.byLower[strings.ToLower(name)] }

const zohoBase int64 = 554023000000000000

func zohoID(code int64, i int32) string {
	return strconv.FormatInt(zohoBase+code*100000000+int64(i)+1, 10)
}

// zohoRow finds the row index for a Zoho id of module m.
func (m *zmodule) zohoRow(t *table, id string) (int32, bool) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n <= zohoBase+m.code*100000000 || n > zohoBase+(m.code+1)*100000000 {
		return 0, false
	}
	i := n - zohoBase - m.code*100000000 - 1
	if i < 0 || i >= int64(len(t.rows)) || t.rows[i].deleted {
		return 0, false
	}
	return int32(i), true
}

// zohoTime converts a Salesforce datetime to Zoho's +08:00 form.
func zohoTime(v string) string {
	if v == "" {
		return ""
	}
	t, err := time.Parse(sfDateTime, v)
	if err != nil {
		return v
	}
	return t.In(cst).Format("2006-01-02T15:04:05-07:00")
}

var cst = time.FixedZone("CST", 8*3600)

func (s *Server) buildZoho() {
	s.modules = map[string]*zmodule{}
	add := func(name string, code int64, obj string, nameField string, email bool) *zmodule {
		o := s.objects[strings.ToLower(obj)]
		m := &zmodule{name: name, code: code, obj: o, byLower: map[string]*zfield{}, nameCol: o.field(nameField).col, email: email}
		s.modules[strings.ToLower(name)] = m
		s.modOrder = append(s.modOrder, m)
		return m
	}
	users := add("users", 1, "User", "Name", true)
	accounts := add("Accounts", 2, "Account", "Name", false)
	contacts := add("Contacts", 3, "Contact", "Name", false)
	leads := add("Leads", 4, "Lead", "Name", false)
	deals := add("Deals", 5, "Opportunity", "Name", false)

	def := func(m *zmodule, spec ...any) {
		// spec: pairs of zoho name and either a Salesforce field name
		// (string), a *zmodule lookup ("col" of the next string), or a
		// func(*row) string.
		for i := 0; i < len(spec); i += 2 {
			zf := &zfield{name: spec[i].(string), col: -1}
			switch v := spec[i+1].(type) {
			case string:
				f := m.obj.field(v)
				zf.col, zf.kind = f.col, f.kind
				if f.kind == kRef {
					panic("samplecrm: reference without lookup " + v)
				}
			case lookupSpec:
				zf.col, zf.kind, zf.lookup = m.obj.field(v.col).col, kLookup, v.target
			case func(*row) string:
				zf.get, zf.kind = v, kString
			case rawSpec:
				zf.get, zf.kind = v, kRawJSON
			}
			m.fields = append(m.fields, zf)
			m.byLower[strings.ToLower(zf.name)] = zf
		}
	}
	idOf := func(m *zmodule) func(*row) string {
		return func(r *row) string {
			i, _ := m.obj.snapshot().byID[r.v[0]]
			return zohoID(m.code, i)
		}
	}
	colOf := func(o *object, n string) int { return o.field(n).col }
	fullName := func(o *object) func(*row) string {
		fc, lc := colOf(o, "FirstName"), colOf(o, "LastName")
		return func(r *row) string { return strings.TrimSpace(r.v[fc] + " " + r.v[lc]) }
	}
	created := func(o *object, n string) func(*row) string {
		c := colOf(o, n)
		return func(r *row) string { return zohoTime(r.v[c]) }
	}
	// Like Zoho, the currency symbol comes with records that have a
	// currency (here: contacts with an account, accounts, deals).
	yuan := func(*row) string { return "¥" }
	contactYuan := func(r *row) string {
		if r.v[colOf(s.objects["contact"], "AccountId")] == "" {
			return ""
		}
		return "¥"
	}
	uo := users.obj
	def(users, "id", idOf(users), "full_name", "Name", "first_name", "FirstName", "last_name", "LastName",
		"email", "Email", "mobile", "MobilePhone",
		"role", rawSpec(func(r *row) string {
			return `{"name":` + string(appendString(nil, r.v[colOf(uo, "Title")])) + `,"id":"554023000000015969"}`
		}),
		"status", func(r *row) string {
			if r.v[colOf(uo, "IsActive")] == "true" {
				return "active"
			}
			return "disabled"
		},
		"created_time", created(uo, "CreatedDate"))
	ao := accounts.obj
	def(accounts, "Owner", lookupSpec{"OwnerId", users}, "Account_Name", "Name", "$currency_symbol", yuan,
		"Account_Type", "Type", "Industry", "Industry", "Annual_Revenue", "AnnualRevenue", "Employees", "NumberOfEmployees",
		"Phone", "Phone", "Website", "Website", "Billing_City", "BillingCity", "Billing_Country", "BillingCountry",
		"Rating", "Rating", "Bank_Account", "Bank_Account__c", "id", idOf(accounts), "Created_Time", created(ao, "CreatedDate"))
	co := contacts.obj
	def(contacts, "Owner", lookupSpec{"OwnerId", users}, "Email", "Email", "$currency_symbol", contactYuan, "Mobile", "MobilePhone",
		"Phone", "Phone", "Last_Name", "LastName", "First_Name", "FirstName", "Full_Name", fullName(co),
		"Account_Name", lookupSpec{"AccountId", accounts}, "Title", "Title", "Date_of_Birth", "Birthdate",
		"Mailing_City", "MailingCity", "Mailing_Country", "MailingCountry", "Lead_Source", "LeadSource",
		"National_ID", "National_ID__c", "Bank_Account", "Bank_Account__c", "id", idOf(contacts),
		"Created_Time", created(co, "CreatedDate"), "Modified_Time", created(co, "LastModifiedDate"))
	lo := leads.obj
	def(leads, "Owner", lookupSpec{"OwnerId", users}, "Last_Name", "LastName", "First_Name", "FirstName", "Full_Name", fullName(lo),
		"Designation", "Title", "Company", "Company", "Email", "Email", "Mobile", "MobilePhone", "Lead_Status", "Status",
		"Lead_Source", "LeadSource", "National_ID", "National_ID__c", "id", idOf(leads), "Created_Time", created(lo, "CreatedDate"))
	do := deals.obj
	def(deals, "Owner", lookupSpec{"OwnerId", users}, "Deal_Name", "Name", "$currency_symbol", yuan, "Stage", "StageName",
		"Amount", "Amount", "Probability", "Probability", "Closing_Date", "CloseDate",
		"Account_Name", lookupSpec{"AccountId", accounts}, "id", idOf(deals), "Created_Time", created(do, "CreatedDate"))
}

type lookupSpec struct {
	col    string
	target *zmodule
}

type rawSpec func(*row) string

// raw returns the field's value as a string (lookups: the target's Zoho id).
func (f *zfield) raw(r *row) string {
	switch {
	case f.get != nil:
		return f.get(r)
	case f.kind == kLookup:
		id := r.v[f.col]
		if id == "" {
			return ""
		}
		i, ok := f.lookup.obj.snapshot().byID[id]
		if !ok {
			return ""
		}
		return zohoID(f.lookup.code, i)
	case f.kind == kDateTime:
		return zohoTime(r.v[f.col])
	}
	return r.v[f.col]
}

// appendZValue appends the field's JSON value.
func (f *zfield) appendZValue(b []byte, r *row) []byte {
	switch f.kind {
	case kRawJSON:
		return append(b, f.get(r)...)
	case kLookup:
		id := r.v[f.col]
		t := f.lookup.obj.snapshot()
		i, ok := t.byID[id]
		if id == "" || !ok {
			return append(b, "null"...)
		}
		tr := t.rows[i]
		b = append(b, `{"name":`...)
		b = appendString(b, tr.v[f.lookup.nameCol])
		b = append(b, `,"id":"`...)
		b = append(b, zohoID(f.lookup.code, i)...)
		b = append(b, '"')
		if f.lookup.email {
			b = append(b, `,"email":`...)
			b = appendValue(b, kString, tr.v[f.lookup.obj.field("Email").col])
		}
		return append(b, '}')
	}
	return appendValue(b, f.kind, f.raw(r))
}

// zpath is a COQL field path ("Account_Name.Account_Name").
type zpath struct {
	name  string
	hops  []*zfield // lookups
	f     *zfield
	final *zmodule
}

func (p *zpath) value(r *row) string {
	for _, h := range p.hops {
		id := r.v[h.col]
		t := h.lookup.obj.snapshot()
		i, ok := t.byID[id]
		if id == "" || !ok {
			return ""
		}
		r = t.rows[i]
	}
	return p.f.raw(r)
}

func (m *zmodule) resolve(name string) (*zpath, bool) {
	p := &zpath{name: name}
	cur := m
	segs := strings.Split(name, ".")
	for i, sg := range segs {
		f := cur.field(sg)
		if f == nil {
			return nil, false
		}
		if i == len(segs)-1 {
			p.f, p.final = f, cur
			return p, true
		}
		if f.kind != kLookup {
			return nil, false
		}
		p.hops = append(p.hops, f)
		cur = f.lookup
	}
	return nil, false
}

var zohoVersionRE = regexp.MustCompile(`^v[2-8]$`)

// serveZoho routes /crm/... requests.
func (s *Server) serveZoho(w http.ResponseWriter, r *http.Request) {
	segs := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, "/crm/"), "/"), "/")
	if len(segs) == 1 && segs[0] == "graphql" {
		s.zohoGraphQL(w, r)
		return
	}
	if segs[0] == "bulk" {
		if len(segs) < 3 || !zohoVersionRE.MatchString(segs[1]) || segs[2] != "read" {
			zohoError(w, http.StatusNotFound, "INVALID_URL_PATTERN", "Please check if the URL trying to access is a correct one", nil)
			return
		}
		s.zohoBulk(w, r, segs[1], segs[3:])
		return
	}
	if !zohoVersionRE.MatchString(segs[0]) || len(segs) < 2 {
		zohoError(w, http.StatusNotFound, "INVALID_URL_PATTERN", "Please check if the URL trying to access is a correct one", nil)
		return
	}
	ver, _ := strconv.Atoi(segs[0][1:])
	segs = segs[1:]
	switch strings.ToLower(segs[0]) {
	case "coql":
		if r.Method != http.MethodPost {
			zohoError(w, http.StatusMethodNotAllowed, "INVALID_REQUEST_METHOD", "The http request method type is not a valid one", nil)
			return
		}
		s.zohoCOQL(w, r)
		return
	case "settings":
		s.zohoSettings(w, r, segs)
		return
	case "org":
		writeJSON(w, http.StatusOK, []byte(`{"org":[{"company_name":"Sample CRM","id":"554023000000000001","currency_symbol":"¥","iso_code":"CNY","time_zone":"Asia/Shanghai","country_code":"CN"}]}`))
		return
	}
	m := s.modules[strings.ToLower(segs[0])]
	if m == nil {
		zohoError(w, http.StatusBadRequest, "INVALID_MODULE", "the module name given seems to be invalid", map[string]string{"resource_path_index": "0"})
		return
	}
	switch {
	case len(segs) == 1:
		switch r.Method {
		case "GET":
			s.zohoList(w, r, m, ver)
		case "POST", "PUT":
			s.zohoWrite(w, r, m, "")
		case "DELETE":
			s.zohoDelete(w, r, m, strings.Split(r.URL.Query().Get("ids"), ","))
		default:
			zohoError(w, http.StatusMethodNotAllowed, "INVALID_REQUEST_METHOD", "The http request method type is not a valid one", nil)
		}
	case len(segs) == 2 && segs[1] == "search":
		s.zohoSearch(w, r, m)
	case len(segs) == 2:
		switch r.Method {
		case "GET":
			s.zohoGet(w, r, m, segs[1])
		case "PUT":
			s.zohoWrite(w, r, m, segs[1])
		case "DELETE":
			s.zohoDelete(w, r, m, []string{segs[1]})
		default:
			zohoError(w, http.StatusMethodNotAllowed, "INVALID_REQUEST_METHOD", "The http request method type is not a valid one", nil)
		}
	default:
		zohoError(w, http.StatusNotFound, "INVALID_URL_PATTERN", "Please check if the URL trying to access is a correct one", nil)
	}
}

// zohoFields resolves ?fields= (all fields when empty). id is always
// included, as are $-meta fields.
func zohoFields(m *zmodule, list string) ([]*zfield, string) {
	if strings.TrimSpace(list) == "" {
		return m.fields, ""
	}
	want := map[*zfield]bool{}
	for n := range strings.SplitSeq(list, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		f := m.field(n)
		if f == nil {
			return nil, n
		}
		want[f] = true
	}
	var out []*zfield
	for _, f := range m.fields {
		if want[f] || f.name == "id" || strings.HasPrefix(f.name, "$") {
			out = append(out, f)
		}
	}
	return out, ""
}

func appendZRecord(b []byte, fields []*zfield, r *row) []byte {
	b = append(b, '{')
	first := true
	for _, f := range fields {
		if f.name[0] == '$' && f.get(r) == "" {
			continue // meta fields are left out, not null
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendString(b, f.name)
		b = append(b, ':')
		b = f.appendZValue(b, r)
	}
	return append(b, '}')
}

const pageTokenMask = 0x5a5a5a5a5a

func (s *Server) zohoList(w http.ResponseWriter, r *http.Request, m *zmodule, ver int) {
	qv := r.URL.Query()
	if ver >= 8 && qv.Get("fields") == "" && m.name != "users" {
		zohoError(w, http.StatusBadRequest, "REQUIRED_PARAM_MISSING", "One of the expected parameter is missing", map[string]string{"param": "fields"})
		return
	}
	fields, bad := zohoFields(m, qv.Get("fields"))
	if bad != "" {
		zohoError(w, http.StatusBadRequest, "INVALID_DATA", "invalid data", map[string]string{"api_name": bad})
		return
	}
	perPage := s.opts.ZohoPageSize
	if v := qv.Get("per_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 200 {
			zohoError(w, http.StatusBadRequest, "INVALID_DATA", "invalid data", map[string]string{"param": "per_page", "maximum_length": "200"})
			return
		}
		perPage = n
	}
	t := m.obj.snapshot()
	live := make([]int32, 0, len(t.rows))
	for i, rw := range t.rows {
		if !rw.deleted {
			live = append(live, int32(i))
		}
	}
	page, pos := 1, 0
	if v := qv.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			zohoError(w, http.StatusBadRequest, "INVALID_DATA", "invalid data", map[string]string{"param": "page"})
			return
		}
		page, pos = n, (n-1)*perPage
	}
	if v := qv.Get("page_token"); v != "" {
		n, err := strconv.ParseInt(v, 16, 64)
		off := n ^ pageTokenMask
		if err != nil || len(v) != 12 || off < 0 || off > int64(len(live)) {
			zohoError(w, http.StatusBadRequest, "INVALID_DATA", "invalid data", map[string]string{"param": "page_token"})
			return
		}
		pos = int(off)
		page = pos/perPage + 1
	}
	if pos >= len(live) {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	end := min(len(live), pos+perPage)
	if m.name == "users" {
		b := []byte(`{"users":[`)
		for k := pos; k < end; k++ {
			if k > pos {
				b = append(b, ',')
			}
			b = appendZRecord(b, fields, t.rows[live[k]])
		}
		b = append(b, `],"info":{"per_page":`...)
		b = strconv.AppendInt(b, int64(perPage), 10)
		b = append(b, `,"count":`...)
		b = strconv.AppendInt(b, int64(end-pos), 10)
		b = append(b, `,"page":`...)
		b = strconv.AppendInt(b, int64(page), 10)
		b = append(b, `,"more_records":`+strconv.FormatBool(end < len(live))+`}}`...)
		writeJSON(w, http.StatusOK, b)
		return
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(http.StatusOK)
	st := getStream(w)
	defer st.put()
	bw, b := st.bw, st.b
	defer func() { st.b = b }()
	b = append(b, `{"data":[`...)
	pc := s.newPacer(r, w, bw)
	for k := pos; k < end; k++ {
		if k > pos {
			b = append(b, ',')
		}
		b = appendZRecord(b, fields, t.rows[live[k]])
		if len(b) > 16<<10 || pc.d > 0 {
			var err error
			if b, err = flushScratch(bw, b); err != nil {
				return
			}
		}
		if !pc.next() {
			return
		}
	}
	b = append(b, `],"info":{"per_page":`...)
	b = strconv.AppendInt(b, int64(perPage), 10)
	b = append(b, `,"next_page_token":`...)
	if end < len(live) {
		b = append(b, '"')
		b = append(b, pad12hex(int64(end)^pageTokenMask)...)
		b = append(b, '"')
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"count":`...)
	b = strconv.AppendInt(b, int64(end-pos), 10)
	b = append(b, `,"page":`...)
	b = strconv.AppendInt(b, int64(page), 10)
	b = append(b, `,"previous_page_token":null,"page_token_expiry":"`...)
	b = append(b, time.Now().Add(24*time.Hour).In(cst).Format("2006-01-02T15:04:05-07:00")...)
	b = append(b, `","more_records":`+strconv.FormatBool(end < len(live))+`}}`...)
	_, _ = bw.Write(b)
	_ = bw.Flush()
}

func pad12hex(n int64) string {
	h := strconv.FormatInt(n, 16)
	for len(h) < 12 {
		h = "0" + h
	}
	return h
}

func (s *Server) zohoGet(w http.ResponseWriter, r *http.Request, m *zmodule, id string) {
	fields, bad := zohoFields(m, r.URL.Query().Get("fields"))
	if bad != "" {
		zohoError(w, http.StatusBadRequest, "INVALID_DATA", "invalid data", map[string]string{"api_name": bad})
		return
	}
	t := m.obj.snapshot()
	i, ok := m.zohoRow(t, id)
	if !ok {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	key := "data"
	if m.name == "users" {
		key = "users"
	}
	b := []byte(`{"` + key + `":[`)
	b = appendZRecord(b, fields, t.rows[i])
	writeJSON(w, http.StatusOK, append(b, "]}"...))
}

// zohoSearch serves {Module}/search?email=|phone=|word=|criteria=.
func (s *Server) zohoSearch(w http.ResponseWriter, r *http.Request, m *zmodule) {
	qv := r.URL.Query()
	var match func(*row) bool
	switch {
	case qv.Get("email") != "":
		v := strings.ToLower(qv.Get("email"))
		match = func(rw *row) bool {
			for _, f := range m.fields {
				if f.kind == kEmail && strings.ToLower(f.raw(rw)) == v {
					return true
				}
			}
			return false
		}
	case qv.Get("phone") != "":
		v := digitsOnly(qv.Get("phone"))
		match = func(rw *row) bool {
			for _, f := range m.fields {
				if f.kind == kPhone && v != "" && strings.Contains(digitsOnly(f.raw(rw)), v) {
					return true
				}
			}
			return false
		}
	case qv.Get("word") != "":
		v := strings.ToLower(qv.Get("word"))
		match = func(rw *row) bool { return rowContains(m.obj, rw, v) }
	case qv.Get("criteria") != "":
		c, err := parseCriteria(m, qv.Get("criteria"))
		if err != nil {
			zohoError(w, http.StatusBadRequest, "INVALID_QUERY", err.Error(), map[string]string{"param": "criteria"})
			return
		}
		match = c.eval
	default:
		zohoError(w, http.StatusBadRequest, "REQUIRED_PARAM_MISSING", "One of the expected parameter is missing", map[string]string{"param": "criteria"})
		return
	}
	fields, bad := zohoFields(m, qv.Get("fields"))
	if bad != "" {
		zohoError(w, http.StatusBadRequest, "INVALID_DATA", "invalid data", map[string]string{"api_name": bad})
		return
	}
	t := m.obj.snapshot()
	b := []byte(`{"data":[`)
	n := 0
	more := false
	for _, rw := range t.rows {
		if rw.deleted || !match(rw) {
			continue
		}
		if n == 200 {
			more = true
			break
		}
		if n > 0 {
			b = append(b, ',')
		}
		b = appendZRecord(b, fields, rw)
		n++
	}
	if n == 0 {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	b = append(b, `],"info":{"per_page":200,"count":`...)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, `,"page":1,"more_records":`+strconv.FormatBool(more)+`}}`...)
	writeJSON(w, http.StatusOK, b)
}

func digitsOnly(s string) string {
	var b strings.Builder
	for _, c := range s {
		if c >= '0' && c <= '9' {
			b.WriteRune(c)
		}
	}
	return b.String()
}

var criterionRE = regexp.MustCompile(`^\(?\(?([A-Za-z0-9_$.]+):(equals|starts_with|not_equal|in):(.*?)\)?\)?$`)

// parseCriteria parses (Field:equals:value)and(Field:starts_with:v)...
func parseCriteria(m *zmodule, text string) (cond, error) {
	var all andCond
	for part := range strings.SplitSeq(strings.ReplaceAll(text, ")and(", ")\x00("), "\x00") {
		g := criterionRE.FindStringSubmatch(strings.TrimSpace(part))
		if g == nil {
			return nil, stringError("criteria must be (Field:equals|starts_with|not_equal|in:value) joined by and")
		}
		p, ok := m.resolve(g[1])
		if !ok {
			return nil, stringError("unknown field " + g[1])
		}
		c := &cmpCond{p: p, k: p.f.kind}
		switch g[2] {
		case "equals":
			c.op, c.vals = "=", []string{g[3]}
		case "not_equal":
			c.op, c.vals = "!=", []string{g[3]}
		case "starts_with":
			c.op, c.vals = "LIKE", []string{strings.ToLower(g[3]) + "%"}
		case "in":
			c.op, c.vals = "IN", strings.Split(g[3], ",")
		}
		all = append(all, c)
	}
	return all, nil
}
