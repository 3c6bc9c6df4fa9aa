package crm

import "strings"

// The built-in relationship table: what the classifier knows of Salesforce
// standard objects when the CRM's own metadata (Options.Describe) is not
// configured or cannot be fetched, so that a cold cache still resolves
// the common paths. The names are the relationshipName / referenceTo of
// the standard lookup fields and the relationshipName / childSObject of
// the standard child relationships, as the describe resource of a standard
// org answers them (docs/classification.md, "Relationship names").
//
// Deliberately absent, so they resolve to "unknown" unless metadata says
// otherwise: polymorphic lookups (What, Who, Parent of Note/Attachment),
// custom relationships (__r: Salesforce names a custom relationship after
// the lookup field's relationship name, which need not match any object's
// name), and history/share/feed child relationships whose object name
// depends on the parent.

// sfLookupTable maps "object.relationship" (lower case; object "*" for
// any object) to the object the lookup points to. "=" means the object
// itself (MasterRecord).
var sfLookupTable = map[string]string{
	"*.owner":                                "User",
	"*.createdby":                            "User",
	"*.lastmodifiedby":                       "User",
	"*.recordtype":                           "RecordType",
	"*.masterrecord":                         "=",
	"*.account":                              "Account",
	"*.contact":                              "Contact",
	"*.opportunity":                          "Opportunity",
	"*.lead":                                 "Lead",
	"*.campaign":                             "Campaign",
	"*.contract":                             "Contract",
	"*.order":                                "Order",
	"*.quote":                                "Quote",
	"*.asset":                                "Asset",
	"*.product2":                             "Product2",
	"*.pricebook2":                           "Pricebook2",
	"*.pricebookentry":                       "PricebookEntry",
	"*.individual":                           "Individual",
	"*.contentdocument":                      "ContentDocument",
	"*.profile":                              "Profile",
	"*.userrole":                             "UserRole",
	"*.manager":                              "User",
	"*.delegatedapprover":                    "User",
	"account.parent":                         "Account",
	"case.parent":                            "Case",
	"casecomment.parent":                     "Case",
	"contact.reportsto":                      "Contact",
	"lead.convertedaccount":                  "Account",
	"lead.convertedcontact":                  "Contact",
	"lead.convertedopportunity":              "Opportunity",
	"contentversion.contentdocument":         "ContentDocument",
	"contentdocument.latestpublishedversion": "ContentVersion",
	"campaign.parent":                        "Campaign",
	"opportunity.pricebook2":                 "Pricebook2",
	"orderitem.order":                        "Order",
	"quotelineitem.quote":                    "Quote",
}

// sfChildTable maps a child relationship name (lower case) to the object
// of its records, for every parent that has it.
var sfChildTable = map[string]string{
	"contacts":                "Contact",
	"opportunities":           "Opportunity",
	"cases":                   "Case",
	"tasks":                   "Task",
	"events":                  "Event",
	"notes":                   "Note",
	"attachments":             "Attachment",
	"notesandattachments":     "NoteAndAttachment",
	"combinedattachments":     "CombinedAttachment",
	"contentdocumentlinks":    "ContentDocumentLink",
	"activityhistories":       "ActivityHistory",
	"openactivities":          "OpenActivity",
	"opportunitylineitems":    "OpportunityLineItem",
	"opportunitycontactroles": "OpportunityContactRole",
	"accountcontactrelations": "AccountContactRelation",
	"assets":                  "Asset",
	"contracts":               "Contract",
	"orders":                  "Order",
	"orderitems":              "OrderItem",
	"quotes":                  "Quote",
	"quotelineitems":          "QuoteLineItem",
	"campaignmembers":         "CampaignMember",
	"casecomments":            "CaseComment",
	"emailmessages":           "EmailMessage",
	"childaccounts":           "Account",
	"users":                   "User",
	"leads":                   "Lead",
}

// builtinLookup resolves a parent relationship of obj from the table.
func builtinLookup(obj, rel string) (string, bool) {
	lo, lr := strings.ToLower(obj), strings.ToLower(rel)
	t, ok := sfLookupTable[lo+"."+lr]
	if !ok {
		// A rule for any object does not give an object a lookup to
		// itself (Contact has no Contact lookup).
		t, ok = sfLookupTable["*."+lr]
		ok = ok && !strings.EqualFold(t, obj)
	}
	if !ok {
		return "", false
	}
	if t == "=" {
		return obj, true
	}
	return t, true
}

// builtinChild resolves a child relationship of obj from the table.
func builtinChild(obj, rel string) (string, bool) {
	t, ok := sfChildTable[strings.ToLower(rel)]
	return t, ok
}

// sfStandardFields canonicalises the spelling of common standard fields
// (SOQL is case-insensitive, policies and masks compare exactly). Fields
// not listed keep their spelling unless metadata knows it; custom suffixes
// are lower-cased like object names.
var sfStandardFields = [...]string{
	"Id", "Name", "FirstName", "LastName", "MiddleName", "Salutation", "Email", "Phone", "MobilePhone",
	"HomePhone", "OtherPhone", "AssistantPhone", "Fax", "Birthdate", "Title", "Department", "Description",
	"MailingStreet", "MailingCity", "MailingState", "MailingPostalCode", "MailingCountry", "MailingAddress",
	"OtherStreet", "OtherAddress", "BillingStreet", "BillingCity", "BillingState", "BillingPostalCode",
	"BillingCountry", "BillingAddress", "ShippingStreet", "ShippingAddress", "AccountId", "OwnerId",
	"ContactId", "OpportunityId", "CreatedById", "LastModifiedById", "ReportsToId", "ParentId", "Username",
	"Alias", "CommunityNickname", "Amount", "StageName", "CloseDate", "Probability", "Subject", "Status",
	"Priority", "Industry", "AnnualRevenue", "NumberOfEmployees", "Website", "Type", "LeadSource", "Rating",
	"Company", "CreatedDate", "LastModifiedDate", "SystemModstamp", "IsDeleted", "AccountNumber",
	"SuppliedEmail", "SuppliedPhone", "SuppliedName", "ExpectedRevenue", "TotalAmount", "UnitPrice", "Quantity",
}

func canonSFField(f string) string {
	if f == "*" {
		return f
	}
	for _, s := range sfStandardFields {
		if len(s) == len(f) && strings.EqualFold(s, f) {
			return s
		}
	}
	return canonSFObject(f)
}

// lookupIDField is the foreign key field behind a parent relationship:
// Account -> AccountId, Owner -> OwnerId, Foo__r -> Foo__c.
func lookupIDField(rel string) string {
	if hasSuffixFold(rel, "__r") {
		return rel[:len(rel)-3] + "__c"
	}
	return rel + "Id"
}
