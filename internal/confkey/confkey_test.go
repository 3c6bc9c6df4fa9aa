package confkey

import (
	"errors"
	"testing"
)

func TestParseByteSize(t *testing.T) {
	cases := map[string]ByteSize{"512": 512, "64KiB": 64 << 10, "10MiB": 10 << 20, "1GiB": 1 << 30, "10MB": 10_000_000, "3 KB": 3000, "7B": 7}
	for in, want := range cases {
		if got, err := ParseByteSize(in); err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "ten", "-1", "1.5MiB", "10 MiBs", "0x10"} {
		if _, err := ParseByteSize(bad); err == nil {
			t.Errorf("ParseByteSize(%q) accepted", bad)
		}
	}
}

func TestPrefixKeepsEveryProblemAndNamesTheSection(t *testing.T) {
	err := Prefix("ratelimit", errors.Join(Errorf("limits[0].rate", "must be positive"), Errorf("[1]", "x"), errors.New("plain")))
	got := Flatten(err)
	want := []string{"ratelimit.limits[0].rate: must be positive", "ratelimit[1]: x", "ratelimit: plain"}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i].Error() != want[i] {
			t.Errorf("got %q, want %q", got[i], want[i])
		}
	}
	if Prefix("x", nil) != nil {
		t.Error("nil in, nil out")
	}
}
