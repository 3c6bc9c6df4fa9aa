package ocsftest

import (
	"strings"
	"testing"
	"testing/fstest"
)

// TestResolution checks the resolution rules against what the OCSF
// 1.8.0 definitions say for API Activity.
func TestResolution(t *testing.T) {
	s, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.class("api_activity")
	if err != nil {
		t.Fatal(err)
	}
	if c.uid != 6003 || c.category != "application" {
		t.Errorf("api_activity: uid %d category %q", c.uid, c.category)
	}
	// activity_id: base_event's enum (0, 99) and the class's (1-4).
	for _, id := range []string{"0", "1", "2", "3", "4", "99"} {
		if _, ok := c.attrs["activity_id"].enum[id]; !ok {
			t.Errorf("activity_id lacks %s: %v", id, c.attrs["activity_id"].enum)
		}
	}
	// actor comes from the host profile in base_event; API Activity takes
	// it out of the profile ("profile": null) and requires it.
	if a := c.attrs["actor"]; a.profile != "" || a.requirement != "required" || a.typ != "actor" {
		t.Errorf("actor = %+v", a)
	}
	if a := c.attrs["trace"]; a == nil || a.profile != "trace" {
		t.Errorf("trace = %+v, want the trace profile's", a)
	}
	if a := c.attrs["time"]; a.typ != "timestamp_t" || a.requirement != "required" {
		t.Errorf("time = %+v", a)
	}
	// user inherits _entity's uid and name and the at_least_one of its own.
	u, err := s.object("user")
	if err != nil {
		t.Fatal(err)
	}
	if u.attrs["uid"] == nil || u.attrs["type_id"].enum["1"] != "User" || strings.Join(u.constraints["at_least_one"], ",") != "account,name,uid" {
		t.Errorf("user = %+v, constraints %v", u.attrs["type_id"], u.constraints)
	}
	if g, _ := s.object("group"); strings.Join(g.constraints["at_least_one"], ",") != "name,uid" {
		t.Errorf("group does not inherit _entity's constraint: %v", g.constraints)
	}
}

func TestLoadNamesWhatIsMissing(t *testing.T) {
	_, err := Load(fstest.MapFS{"version.json": {Data: []byte(`{"version":"1.8.0"}`)}})
	if err == nil || !strings.Contains(err.Error(), "dictionary.json") {
		t.Errorf("Load without dictionary.json: %v", err)
	}
}
