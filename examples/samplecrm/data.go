package samplecrm

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// kind is a field's type, which decides its JSON encoding.
type kind uint8

const (
	kString kind = iota
	kID
	kRef // an Id pointing at another object; field.rel names the relationship
	kNumber
	kInt
	kBool
	kDate
	kDateTime
	kPicklist
	kEmail
	kPhone
	kRawJSON // Zoho computed values already encoded as JSON
	kLookup  // Zoho lookup: {"name","id"(,"email")}
)

func (k kind) sfType() string {
	switch k {
	case kID:
		return "id"
	case kRef:
		return "reference"
	case kNumber:
		return "currency"
	case kInt:
		return "int"
	case kBool:
		return "boolean"
	case kDate:
		return "date"
	case kDateTime:
		return "datetime"
	case kPicklist:
		return "picklist"
	case kEmail:
		return "email"
	case kPhone:
		return "phone"
	}
	return "string"
}

// field is one column of a Salesforce object.
type field struct {
	name   string
	label  string
	kind   kind
	col    int
	custom bool
	// For kRef: the target object and the relationship name ("Account" for
	// AccountId).
	target string
	rel    string
	refObj *object
}

// child is a child relationship (Account.Contacts -> Contact.AccountId).
type child struct {
	name  string
	obj   *object
	field *field
}

// row is one record; an empty string is null (Salesforce has no empty text).
type row struct {
	v       []string
	deleted bool
}

// table is an immutable snapshot of an object's rows; writers copy it.
type table struct {
	rows []*row
	byID map[string]int32
	// children maps a child relationship name to parent row -> child rows.
	// Built at generation; records created later are not listed.
	children map[string]map[int32][]int32
	deleted  int // rows marked deleted
}

// object is a Salesforce sObject with its data.
type object struct {
	name     string
	label    string
	plural   string
	prefix   string
	fields   []*field
	byLower  map[string]*field
	relLower map[string]*field
	children map[string]*child // lower-case child relationship name
	childOrd []*child
	mu       sync.Mutex // serialises writers
	tab      atomic.Pointer[table]
	seq      int // ids handed out so far (under mu)
}

func (o *object) field(name string) *field { return o.byLower[strings.ToLower(name)] }

func (o *object) snapshot() *table { return o.tab.Load() }

// lookup finds a row by 15- or 18-character id.
func (t *table) lookup(id string) (int32, bool) {
	if len(id) == 15 {
		id += idSuffix(id)
	}
	i, ok := t.byID[id]
	return i, ok
}

// idSuffix computes the 3-character case-safe suffix of a 15-character
// Salesforce id.
func idSuffix(id string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
	var out [3]byte
	for chunk := 0; chunk < 3; chunk++ {
		bits := 0
		for j := 0; j < 5; j++ {
			c := id[chunk*5+j]
			if c >= 'A' && c <= 'Z' {
				bits |= 1 << j
			}
		}
		out[chunk] = alphabet[bits]
	}
	return string(out[:])
}

// sfID builds the 18-character id of the n-th record with a key prefix.
func sfID(prefix string, n int) string {
	s := prefix + "SC" + pad(n, 10)
	return s + idSuffix(s)
}

func pad(n, width int) string {
	s := strconv.Itoa(n)
	if len(s) >= width {
		return s
	}
	return strings.Repeat("0", width-len(s)) + s
}

func (s *Server) buildSchema() {
	s.objects = map[string]*object{}
	add := func(name, label, plural, prefix string, fs ...*field) *object {
		o := &object{name: name, label: label, plural: plural, prefix: prefix,
			byLower: map[string]*field{}, relLower: map[string]*field{}, children: map[string]*child{}}
		for i, f := range fs {
			f.col = i
			if f.label == "" {
				f.label = f.name
			}
			f.custom = strings.HasSuffix(f.name, "__c")
			o.fields = append(o.fields, f)
			o.byLower[strings.ToLower(f.name)] = f
			if f.rel != "" {
				o.relLower[strings.ToLower(f.rel)] = f
			}
		}
		s.objects[strings.ToLower(name)] = o
		s.objOrder = append(s.objOrder, o)
		return o
	}
	f := func(name string, k kind) *field { return &field{name: name, kind: k} }
	ref := func(name, target, rel string) *field { return &field{name: name, kind: kRef, target: target, rel: rel} }

	add("User", "User", "Users", "005",
		f("Id", kID), f("Username", kString), f("LastName", kString), f("FirstName", kString), f("Name", kString),
		f("Title", kString), f("Department", kString), f("Email", kEmail), f("MobilePhone", kPhone),
		f("IsActive", kBool), f("CreatedDate", kDateTime))
	add("Account", "Account", "Accounts", "001",
		f("Id", kID), f("IsDeleted", kBool), f("Name", kString), f("Type", kPicklist), f("Industry", kPicklist),
		f("AnnualRevenue", kNumber), f("NumberOfEmployees", kInt), f("Phone", kPhone), f("Website", kString),
		f("BillingCity", kString), f("BillingCountry", kString), f("Rating", kPicklist),
		f("Bank_Account__c", kString), ref("OwnerId", "User", "Owner"), f("CreatedDate", kDateTime))
	add("Contact", "Contact", "Contacts", "003",
		f("Id", kID), f("IsDeleted", kBool), ref("AccountId", "Account", "Account"), f("LastName", kString),
		f("FirstName", kString), f("Name", kString), f("Title", kString), f("Email", kEmail), f("Phone", kPhone),
		f("MobilePhone", kPhone), f("Birthdate", kDate), f("MailingCity", kString), f("MailingCountry", kString),
		f("LeadSource", kPicklist), f("National_ID__c", kString), f("Bank_Account__c", kString),
		ref("OwnerId", "User", "Owner"), f("CreatedDate", kDateTime), f("LastModifiedDate", kDateTime))
	add("Lead", "Lead", "Leads", "00Q",
		f("Id", kID), f("IsDeleted", kBool), f("LastName", kString), f("FirstName", kString), f("Name", kString),
		f("Title", kString), f("Company", kString), f("Email", kEmail), f("MobilePhone", kPhone),
		f("Status", kPicklist), f("LeadSource", kPicklist), f("National_ID__c", kString),
		ref("OwnerId", "User", "Owner"), f("CreatedDate", kDateTime))
	add("Opportunity", "Opportunity", "Opportunities", "006",
		f("Id", kID), f("IsDeleted", kBool), ref("AccountId", "Account", "Account"), f("Name", kString),
		f("StageName", kPicklist), f("Amount", kNumber), f("Probability", kInt), f("CloseDate", kDate),
		ref("OwnerId", "User", "Owner"), f("CreatedDate", kDateTime))
	add("Case", "Case", "Cases", "500",
		f("Id", kID), f("IsDeleted", kBool), f("CaseNumber", kString), ref("ContactId", "Contact", "Contact"),
		ref("AccountId", "Account", "Account"), f("Subject", kString), f("Description", kString),
		f("Status", kPicklist), f("Priority", kPicklist), f("Origin", kPicklist),
		ref("OwnerId", "User", "Owner"), f("CreatedDate", kDateTime))

	for _, o := range s.objOrder {
		for _, fl := range o.fields {
			if fl.kind == kRef {
				fl.refObj = s.objects[strings.ToLower(fl.target)]
			}
		}
	}
	link := func(parent, name, childObj, fieldName string) {
		p := s.objects[strings.ToLower(parent)]
		c := s.objects[strings.ToLower(childObj)]
		ch := &child{name: name, obj: c, field: c.field(fieldName)}
		p.children[strings.ToLower(name)] = ch
		p.childOrd = append(p.childOrd, ch)
	}
	link("Account", "Contacts", "Contact", "AccountId")
	link("Account", "Opportunities", "Opportunity", "AccountId")
	link("Account", "Cases", "Case", "AccountId")
	link("Contact", "Cases", "Case", "ContactId")
}

// ---- generation ----

var (
	cnSurnames = [][2]string{{"Wang", "王"}, {"Li", "李"}, {"Zhang", "张"}, {"Liu", "刘"}, {"Chen", "陈"},
		{"Yang", "杨"}, {"Zhao", "赵"}, {"Huang", "黄"}, {"Zhou", "周"}, {"Wu", "吴"}, {"Xu", "徐"},
		{"Sun", "孙"}, {"Hu", "胡"}, {"Zhu", "朱"}, {"Gao", "高"}, {"Lin", "林"}, {"He", "何"},
		{"Guo", "郭"}, {"Ma", "马"}, {"Luo", "罗"}}
	cnGiven = [][2]string{{"Fang", "芳"}, {"Wei", "伟"}, {"Na", "娜"}, {"Min", "敏"}, {"Jing", "静"},
		{"Lei", "磊"}, {"Qiang", "强"}, {"Yang", "洋"}, {"Yan", "艳"}, {"Jie", "杰"}, {"Tao", "涛"},
		{"Ming", "明"}, {"Chao", "超"}, {"Xiuying", "秀英"}, {"Hui", "慧"}, {"Jun", "军"}, {"Ping", "平"},
		{"Gang", "刚"}, {"Li", "丽"}, {"Hao", "浩"}}
	westFirst = []string{"James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda",
		"William", "Elizabeth", "David", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas",
		"Sarah", "Charles", "Karen", "Zoë", "José"}
	westLast = []string{"Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
		"Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas",
		"Taylor", "Moore", "Jackson", "O'Brien"}
	companyWords = []string{"Customer", "Huaxin", "Jinlong", "Tianhe", "Everbright", "Northwind",
		"Contoso", "Fabrikam", "Globex", "Initech", "Pudong", "Lotus", "Phoenix", "Dragon Gate",
		"Silk Road", "Pearl River", "Yangtze", "Blue Harbor", "Redwood", "Summit"}
	companySuffixes = []string{"Corp", "Ltd", "Group", "Holdings", "Trading Co.", "Technology",
		"Logistics", "Pharma"}
	cnCompanies = []string{"上海华信贸易有限公司", "深圳金龙科技有限公司", "北京天河咨询有限公司",
		"广州珠江物流有限公司", "杭州莲花电子商务有限公司"}
	cities = [][2]string{{"Beijing", "China"}, {"Shanghai", "China"}, {"Shenzhen", "China"},
		{"Guangzhou", "China"}, {"Hangzhou", "China"}, {"Chengdu", "China"}, {"Wuhan", "China"},
		{"深圳", "中国"}, {"San Francisco", "United States"}, {"London", "United Kingdom"},
		{"Singapore", "Singapore"}, {"Berlin", "Germany"}}
	regions    = []string{"110105", "110108", "310104", "310115", "440305", "440106", "330106", "320102", "510107", "420106"}
	industries = []string{"Technology", "Manufacturing", "Retail", "Finance", "Healthcare", "Logistics", "Energy", "Education"}
	titles     = []string{"CEO", "CFO", "Purchasing Manager", "Engineer", "Sales Director", "IT Manager", "Analyst", "采购经理"}
	sources    = []string{"Web", "Phone Inquiry", "Partner Referral", "Trade Show", "WeChat"}
	leadStatus = []string{"Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted"}
	stages     = []string{"Prospecting", "Qualification", "Needs Analysis", "Proposal/Price Quote", "Negotiation/Review", "Closed Won", "Closed Lost"}
	mobilePre  = []string{"130", "131", "132", "135", "136", "137", "138", "139", "150", "151", "152", "158", "159", "177", "186", "187", "188", "189"}
	caseStatus = []string{"New", "Working", "Escalated", "Closed"}
	priorities = []string{"Low", "Medium", "High"}
	origins    = []string{"Phone", "Email", "Web"}
	subjects   = []string{"Cannot log in", "Invoice question", "Delivery delayed", "Refund request", "发票抬头错误", "Product defect: \"X200\" overheating"}
	userTitles = []string{"Sales Rep", "Account Executive", "Sales Manager", "Support Agent"}
)

// liWeiID is the id of the first user, the fixtures' account owner.
const liWeiID = "005D0000001KyEIIA0"

// epoch is the fixed "now" of the generated data, so runs are reproducible.
var epoch = time.Date(2026, 11, 20, 9, 14, 3, 0, time.UTC)

const sfDateTime = "2006-01-02T15:04:05.000+0000"

// person is a generated human.
type person struct {
	first, last, name, local string
	chinese                  bool
}

type gen struct {
	r      *rand.Rand
	emails map[string]int
}

func (g *gen) pick(list []string) string { return list[g.r.IntN(len(list))] }

func (g *gen) person() person {
	switch g.r.IntN(3) {
	case 0, 1:
		sn := cnSurnames[g.r.IntN(len(cnSurnames))]
		gv := cnGiven[g.r.IntN(len(cnGiven))]
		local := strings.ToLower(gv[0] + "." + sn[0])
		if g.r.IntN(2) == 0 {
			local = strings.ToLower(sn[0] + "." + gv[0])
		}
		if g.r.IntN(2) == 0 { // written in Chinese characters
			return person{first: gv[1], last: sn[1], name: sn[1] + gv[1], local: local, chinese: true}
		}
		return person{first: gv[0], last: sn[0], name: sn[0] + " " + gv[0], local: local, chinese: true}
	default:
		fn, ln := g.pick(westFirst), g.pick(westLast)
		local := asciiLocal(fn) + "." + asciiLocal(ln)
		return person{first: fn, last: ln, name: fn + " " + ln, local: local}
	}
}

func asciiLocal(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z':
			b.WriteRune(r)
		case r == 'ë':
			b.WriteByte('e')
		case r == 'é':
			b.WriteByte('e')
		}
	}
	return b.String()
}

// email makes a unique address for local at domain.
func (g *gen) email(local, domain string) string {
	n := g.emails[local+"@"+domain]
	g.emails[local+"@"+domain] = n + 1
	if n > 0 {
		local += strconv.Itoa(n + 1)
	}
	return local + "@" + domain
}

func (g *gen) digits(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + g.r.IntN(10))
	}
	return string(b)
}

func (g *gen) mobile(chinese bool) string {
	if !chinese {
		return "+1 415 555 01" + g.digits(2)
	}
	p, d := g.pick(mobilePre), g.digits(8)
	if g.r.IntN(3) == 0 {
		return "+86 " + p + " " + d[:4] + " " + d[4:]
	}
	return p + d
}

func (g *gen) phone(chinese bool) string {
	if !chinese {
		return "+1 (415) 555-01" + g.digits(2)
	}
	return "+86 21 " + g.digits(4) + " " + g.digits(4)
}

func (g *gen) birthdate() time.Time {
	return time.Date(1950+g.r.IntN(55), time.Month(1+g.r.IntN(12)), 1+g.r.IntN(28), 0, 0, 0, 0, time.UTC)
}

// nationalID builds an 18-digit PRC resident id with a valid GB 11643 check
// character.
func (g *gen) nationalID(birth time.Time) string {
	body := g.pick(regions) + birth.Format("20060102") + g.digits(3)
	return body + nationalIDCheck(body)
}

func nationalIDCheck(body17 string) string {
	weights := [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i := 0; i < 17; i++ {
		sum += int(body17[i]-'0') * weights[i]
	}
	return string("10X98765432"[sum%11])
}

// bankAccount builds a 19-digit UnionPay-style card number with a valid Luhn
// check digit.
func (g *gen) bankAccount() string {
	body := g.pick([]string{"6222", "6217", "6228", "6214"}) + g.digits(14)
	return body + luhnCheck(body)
}

func luhnCheck(body string) string {
	sum := 0
	double := true
	for i := len(body) - 1; i >= 0; i-- {
		d := int(body[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return strconv.Itoa((10 - sum%10) % 10)
}

func (g *gen) created() time.Time {
	return epoch.Add(-time.Duration(g.r.IntN(700*24*3600)) * time.Second)
}

func maybe(g *gen, pct int, v string) string {
	if g.r.IntN(100) < pct {
		return ""
	}
	return v
}

func generate(s *Server, records int, seed int64) {
	g := &gen{r: rand.New(rand.NewPCG(uint64(seed), 0x5eedc0de)), emails: map[string]int{}}
	obj := func(n string) *object { return s.objects[strings.ToLower(n)] }
	tabs := map[string]*table{}
	for _, o := range s.objOrder {
		tabs[o.name] = &table{byID: map[string]int32{}, children: map[string]map[int32][]int32{}}
	}
	// The first records carry the fixtures' ids, so requests copied from
	// the fixtures find them.
	fixedIDs := map[string][]string{
		"User":    {liWeiID},
		"Account": {"001D000000IqhSLIAZ"},
		"Contact": {"003D000000QV9n2IAD", "003D000000QV9n3IAD", "003D000000QV9n4IAD"},
		"Lead":    {"00QD000000AbcdEIAR"},
	}
	put := func(o *object, v []string) {
		t := tabs[o.name]
		o.seq++
		v[0] = sfID(o.prefix, o.seq)
		if ids := fixedIDs[o.name]; len(t.rows) < len(ids) {
			v[0] = ids[len(t.rows)]
		}
		t.byID[v[0]] = int32(len(t.rows))
		t.rows = append(t.rows, &row{v: v})
	}
	b2s := strconv.FormatBool

	// Users: the first is Li Wei, the account owner of the fixtures.
	users := obj("User")
	for i := 0; i < 20; i++ {
		p := g.person()
		if i == 0 {
			p = person{first: "Wei", last: "Li", name: "Li Wei", local: "li.wei", chinese: true}
		}
		email := g.email(p.local, "seller.example")
		put(users, []string{"", email, p.last, p.first, p.name, userTitles[i%len(userTitles)],
			map[bool]string{true: "Support", false: "Sales"}[i%4 == 3], email, g.mobile(p.chinese),
			b2s(i != 19), g.created().Format(sfDateTime)})
	}
	userID := func(i int) string { return tabs["User"].rows[i].v[0] }

	// Accounts.
	accounts := obj("Account")
	nAcc := max(1, records/10)
	accDomain := make([]string, nAcc)
	accOwner := make([]int, nAcc)
	for i := 0; i < nAcc; i++ {
		var name, domain string
		chinese := true
		switch {
		case i == 0:
			name, domain = "Customer Corp", "customer-corp.cn"
		case i%17 == 5:
			name, domain = cnCompanies[(i/17)%len(cnCompanies)], "cn-company"+strconv.Itoa(i)+".example.cn"
		default:
			w := companyWords[i%len(companyWords)]
			sfx := companySuffixes[(i/len(companyWords))%len(companySuffixes)]
			name = w + " " + sfx
			if round := i / (len(companyWords) * len(companySuffixes)); round > 0 {
				name += " " + strconv.Itoa(round+1)
			}
			domain = asciiLocal(strings.ReplaceAll(w, " ", "")) + strconv.Itoa(i) + ".example.com"
			chinese = i%3 != 0
		}
		accDomain[i] = domain
		owner := g.r.IntN(19)
		if i == 0 {
			owner = 0
		}
		accOwner[i] = owner
		city := cities[g.r.IntN(len(cities))]
		revenue := strconv.Itoa((1 + g.r.IntN(5000)) * 10000)
		if i == 0 {
			revenue = "35000000"
		}
		put(accounts, []string{"", "false", name, g.pick([]string{"Customer", "Prospect", "Partner"}),
			g.pick(industries), revenue, strconv.Itoa(10 + g.r.IntN(20000)), g.phone(chinese),
			"https://www." + domain, city[0], city[1], g.pick([]string{"Hot", "Warm", "Cold"}),
			g.bankAccount(), userID(owner), g.created().Format(sfDateTime)})
	}
	accID := func(i int) string { return tabs["Account"].rows[i].v[0] }

	// Contacts.
	contacts := obj("Contact")
	for i := 0; i < records; i++ {
		p := g.person()
		if i == 0 {
			p = person{first: "Fang", last: "Wang", name: "Wang Fang", local: "wang.fang", chinese: true}
		}
		if i == 1 {
			p = person{first: "Lei", last: "Zhao", name: "Zhao Lei", local: "zhao.lei", chinese: true}
		}
		if i%97 == 2 { // a name that needs CSV quoting and JSON escaping
			p = person{first: `Jing "JJ"`, last: "Chen", name: `Chen, Jing "JJ"`, local: "chen.jing", chinese: true}
		}
		acc := g.r.IntN(nAcc)
		if i == 0 {
			acc = 0
		}
		accountID, owner := accID(acc), accOwner[acc]
		domain := accDomain[acc]
		if i%20 == 1 {
			accountID, owner, domain = "", g.r.IntN(19), "example.org"
		}
		birth := g.birthdate()
		if i == 0 {
			birth = time.Date(1988, 4, 12, 0, 0, 0, 0, time.UTC)
		}
		natID, bank := "", g.bankAccount()
		if p.chinese {
			natID = g.nationalID(birth)
		}
		bd := birth.Format("2006-01-02")
		email := g.email(p.local, domain)
		mobile := g.mobile(p.chinese)
		switch i {
		case 0:
			mobile = "13800138000"
		case 1: // the fixtures' contact with nulls
			email, bd, mobile = "", "", "+86 139 0013 9000"
		default:
			email = maybe(g, 8, email)
			bd = maybe(g, 10, bd)
		}
		city := cities[g.r.IntN(len(cities))]
		created := g.created()
		put(contacts, []string{"", "false", accountID, p.last, p.first, p.name, g.pick(titles), email,
			maybe(g, 30, g.phone(p.chinese)), mobile, bd, city[0], city[1], g.pick(sources),
			natID, bank, userID(owner), created.Format(sfDateTime),
			created.Add(time.Duration(g.r.IntN(3000000)) * time.Second).Format(sfDateTime)})
	}

	// Leads.
	leads := obj("Lead")
	for i := 0; i < max(1, records/2); i++ {
		p := g.person()
		if i == 0 {
			p = person{first: "Li", last: "Sun", name: "Sun Li", local: "sun.li", chinese: true}
		}
		natID := ""
		if p.chinese {
			natID = maybe(g, 50, g.nationalID(g.birthdate()))
		}
		company := g.pick(companyWords) + " " + g.pick(companySuffixes)
		put(leads, []string{"", "false", p.last, p.first, p.name, g.pick(titles), company,
			maybe(g, 5, g.email(p.local, "prospect.cn")), g.mobile(p.chinese), g.pick(leadStatus),
			g.pick(sources), natID, userID(g.r.IntN(19)), g.created().Format(sfDateTime)})
	}

	// Opportunities.
	opps := obj("Opportunity")
	for i := 0; i < max(1, records/5); i++ {
		acc := g.r.IntN(nAcc)
		stage := g.r.IntN(len(stages))
		close := epoch.AddDate(0, 0, g.r.IntN(360)-180)
		put(opps, []string{"", "false", accID(acc), tabs["Account"].rows[acc].v[2] + " - " + g.pick([]string{"Renewal", "Expansion", "New Business", "Pilot"}),
			stages[stage], strconv.Itoa((1+g.r.IntN(2000))*500) + ".00", strconv.Itoa(min(100, stage*15+10)),
			close.Format("2006-01-02"), userID(accOwner[acc]), g.created().Format(sfDateTime)})
	}

	// Cases.
	cases := obj("Case")
	ct := tabs["Contact"]
	for i := 0; i < max(1, records/5); i++ {
		c := ct.rows[g.r.IntN(len(ct.rows))]
		put(cases, []string{"", "false", pad(1000+i, 8), c.v[0], c.v[2], g.pick(subjects),
			maybe(g, 40, "Customer reports: "+g.pick(subjects)+"\nCall back on "+c.v[9]), g.pick(caseStatus),
			g.pick(priorities), g.pick(origins), userID(g.r.IntN(19)), g.created().Format(sfDateTime)})
	}

	// Child indexes.
	for _, o := range s.objOrder {
		for _, ch := range o.childOrd {
			idx := map[int32][]int32{}
			pt, cht := tabs[o.name], tabs[ch.obj.name]
			for ci, r := range cht.rows {
				if pid := r.v[ch.field.col]; pid != "" {
					if pi, ok := pt.byID[pid]; ok {
						idx[pi] = append(idx[pi], int32(ci))
					}
				}
			}
			pt.children[strings.ToLower(ch.name)] = idx
		}
	}
	for _, o := range s.objOrder {
		o.tab.Store(tabs[o.name])
	}
}

// ---- writes (copy on write, so readers never lock) ----

// create appends a record and returns its id.
func (o *object) create(vals map[string]string) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	old := o.tab.Load()
	o.seq++
	v := make([]string, len(o.fields))
	for _, f := range o.fields {
		if f.kind == kBool {
			v[f.col] = "false"
		}
	}
	for k, val := range vals {
		v[o.field(k).col] = val
	}
	id := sfID(o.prefix, o.seq)
	v[0] = id
	now := time.Now().UTC().Format(sfDateTime)
	for _, n := range []string{"CreatedDate", "LastModifiedDate"} {
		if f := o.field(n); f != nil && v[f.col] == "" {
			v[f.col] = now
		}
	}
	if f := o.field("Name"); f != nil && v[f.col] == "" && o.field("LastName") != nil {
		v[f.col] = strings.TrimSpace(v[o.field("FirstName").col] + " " + v[o.field("LastName").col])
	}
	nt := &table{rows: make([]*row, len(old.rows), len(old.rows)+1), byID: make(map[string]int32, len(old.byID)+1), children: old.children, deleted: old.deleted}
	copy(nt.rows, old.rows)
	for k, i := range old.byID {
		nt.byID[k] = i
	}
	nt.byID[id] = int32(len(nt.rows))
	nt.rows = append(nt.rows, &row{v: v})
	o.tab.Store(nt)
	return id
}

// update changes fields of the record with id; it reports false if there is
// no such (undeleted) record.
func (o *object) update(id string, vals map[string]string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	old := o.tab.Load()
	i, ok := old.lookup(id)
	if !ok || old.rows[i].deleted {
		return false
	}
	nr := &row{v: append([]string(nil), old.rows[i].v...)}
	for k, val := range vals {
		nr.v[o.field(k).col] = val
	}
	if f := o.field("LastModifiedDate"); f != nil {
		nr.v[f.col] = time.Now().UTC().Format(sfDateTime)
	}
	o.replace(old, i, nr)
	return true
}

// remove marks the record deleted (queryAll still returns it).
func (o *object) remove(id string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	old := o.tab.Load()
	i, ok := old.lookup(id)
	if !ok || old.rows[i].deleted {
		return false
	}
	nr := &row{v: append([]string(nil), old.rows[i].v...), deleted: true}
	if f := o.field("IsDeleted"); f != nil {
		nr.v[f.col] = "true"
	}
	o.replace(old, i, nr)
	return true
}

func (o *object) replace(old *table, i int32, nr *row) {
	nt := &table{rows: make([]*row, len(old.rows)), byID: old.byID, children: old.children, deleted: old.deleted}
	if nr.deleted && !old.rows[i].deleted {
		nt.deleted++
	}
	copy(nt.rows, old.rows)
	nt.rows[i] = nr
	o.tab.Store(nt)
}
