package proxy

import "testing"

func TestHasAfterArg(t *testing.T) {
	for q, want := range map[string]bool{
		`query { uiapi { query { Contact(first: 2, after: "djE6MQ==") { edges { node { Id } } } } } }`:             true,
		`query { uiapi { query { Contact(first: 2,after:"x") { edges { node { Id } } } } } }`:                      true,
		`query { uiapi { query { Contact(AFTER : "x") { edges { node { Id } } } } } }`:                             true,
		`query { uiapi { query { Contact(first: 2) { edges { node { Id } } } } } }`:                                false,
		`query { uiapi { query { Contact(where: {Name: {eq: "after: x"}}) { edges { node { Id } } } } } }`:         false,
		`query { uiapi { query { Contact(first: 2) { edges { node { after_x__c { value } } } } } } }`:              false,
		`query { uiapi { query { Contact(where: {Name: {eq: "a\"b"}}, after: "c") { edges { node { Id } } } } } }`: true,
	} {
		if got := hasAfterArg(q); got != want {
			t.Errorf("hasAfterArg(%s) = %v, want %v", q, got, want)
		}
	}
}
