package audit

import (
	"strings"
	"testing"
)

// FuzzVerify: no line, however broken, makes verification panic or pass a
// line whose hash does not match.
func FuzzVerify(f *testing.F) {
	ev := testEvent(1)
	normalise(ev)
	ev.Chain = Chain{Seq: 1, Prev: GenesisPrev}
	line, _ := seal(ev)
	f.Add(string(line))
	f.Add(`{"chain":{"seq":1,"prev":"` + GenesisPrev + `","hash":"` + GenesisPrev + `"}}`)
	f.Add("{}\n[]\nnull\n")
	f.Add(`{"a":"\u0000\ud800","chain":{"seq":1e400}}`)
	f.Fuzz(func(t *testing.T, s string) {
		rep, err := Verify(strings.NewReader(s))
		if err != nil {
			t.Fatal(err)
		}
		if rep.OK() && rep.Events > 0 {
			// Whatever verified must re-verify from its own report.
			again, _ := Verify(strings.NewReader(s), WithStart(rep.FirstSeq, rep.FirstPrev))
			if !again.OK() || again.LastHash != rep.LastHash {
				t.Fatalf("inconsistent: %+v vs %+v", rep, again)
			}
		}
	})
}
