package profile

import (
	"errors"
	"slices"
	"testing"

	"github.com/crmgw/crmgw/crm"
)

// TestParseSQL: the XOQL parts the classifier reads, and the queries it
// refuses because their fields or object could be misattributed.
func TestParseSQL(t *testing.T) {
	p, err := parseSQL("select id, name, phone from account where phone like '138%' and city = 'x' order by name desc limit 10")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.selectList, []string{"id", "name", "phone"}) || p.from != "account" {
		t.Fatalf("%+v", p)
	}
	if got := identifiers(p.where); !slices.Equal(got, []string{"phone", "city"}) {
		t.Errorf("where: %v", got)
	}
	if got := identifiers(p.order); !slices.Equal(got, []string{"name"}) {
		t.Errorf("order: %v", got)
	}
	for _, q := range []string{
		"select id from account, contact",
		"select id from account join contact",
		"select count(id) from account",
		"select phone p from account",
		"select id from (select id from account)",
		"select id from account where id in (select accountId from contact)",
		"select id from account where name = 'unterminated",
		"from account select id",
		"select id from account where a = 1 where b = 2",
		"select id from account group by id",
		"select id",
	} {
		if _, err := parseSQL(q); !errors.Is(err, crm.ErrRejected) {
			t.Errorf("%q: want rejected, got %v", q, err)
		}
	}
}
