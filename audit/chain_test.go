package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-json-experiment/json/jsontext"
)

// writeChain records n events through a file sink and returns the path.
func writeChain(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	cfg := fileConfig(t, dir)
	a, _ := start(t, cfg, AlertsConfig{}, nil)
	for i := 1; i <= n; i++ {
		a.Record(testEvent(i), nil)
	}
	closeAuditor(t, a)
	return cfg.Sinks[0].Path
}

func TestChainOfRecordedEventsVerifies(t *testing.T) {
	path := writeChain(t, 40)
	rep, err := VerifyFile(path, RequireGenesis())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Events != 40 || rep.LastSeq != 40 {
		t.Fatalf("report = %+v, want 40 intact events", rep)
	}
	lines := readLines(t, path)
	first := decodeEvent(t, lines[0])
	if first.Chain.Seq != 1 || first.Chain.Prev != GenesisPrev {
		t.Errorf("first chain = %+v, want seq 1 with the genesis prev", first.Chain)
	}
	second := decodeEvent(t, lines[1])
	if second.Chain.Prev != first.Chain.Hash || second.Chain.Seq != 2 {
		t.Errorf("second chain = %+v, want seq 2 after %s", second.Chain, first.Chain.Hash)
	}
	if rep.LastHash != decodeEvent(t, lines[39]).Chain.Hash {
		t.Errorf("LastHash is not the last line's hash")
	}
	if got := rep.String(); !strings.HasPrefix(got, "intact: 40 events, seq 1..40, last hash ") {
		t.Errorf("String() = %q", got)
	}
}

// TestChainAlgorithmAsDocumented re-implements docs/audit.md's algorithm
// from scratch (generic JSON, RFC 8785 canonical form, sha256(prev+jcs)).
func TestChainAlgorithmAsDocumented(t *testing.T) {
	path := writeChain(t, 3)
	prev := GenesisPrev
	for i, line := range readLines(t, path) {
		var obj map[string]any
		if err := json.Unmarshal([]byte(line), &obj); err != nil {
			t.Fatal(err)
		}
		chain := obj["chain"].(map[string]any)
		want := chain["hash"].(string)
		delete(chain, "hash")
		b, _ := json.Marshal(obj)
		v := jsontext.Value(b)
		if err := v.Canonicalize(); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(append([]byte(prev), v...))
		if got := hex.EncodeToString(sum[:]); got != want || chain["prev"] != prev {
			t.Fatalf("line %d: recomputed %s, line says %s", i+1, got, want)
		}
		prev = want
	}
}

func TestEventCarriesTheContractFields(t *testing.T) {
	path := writeChain(t, 1)
	var obj map[string]any
	if err := json.Unmarshal([]byte(readLines(t, path)[0]), &obj); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"":              {"time", "class_uid", "request_id", "activity", "severity", "actor", "src_endpoint", "http_request", "http_response", "crm", "decision", "duration_ms", "chain"},
		"actor":         {"user", "client_id", "mfa"},
		"actor.user":    {"uid", "email", "groups"},
		"src_endpoint":  {"ip"},
		"http_request":  {"method", "path", "user_agent"},
		"http_response": {"code", "bytes"},
		"crm":           {"upstream", "type", "operation", "category", "object", "fields", "records", "truncated"},
		"decision":      {"allow", "enforced", "reason", "masked", "policy_revision"},
		"chain":         {"seq", "prev", "hash"},
	}
	for path, keys := range want {
		m := obj
		if path != "" {
			for _, p := range strings.Split(path, ".") {
				m = m[p].(map[string]any)
			}
		}
		for _, k := range keys {
			if _, ok := m[k]; !ok {
				t.Errorf("%s lacks %q", path, k)
			}
		}
	}
	if obj["class_uid"] != float64(6003) || obj["time"] != "2026-11-23T09:14:04.412Z" {
		t.Errorf("class_uid/time = %v/%v", obj["class_uid"], obj["time"])
	}
}

func TestTamperingIsFoundAtTheFirstBadLine(t *testing.T) {
	path := writeChain(t, 20)
	orig := readLines(t, path)

	// forged is a line a forger built with a valid hash of its own, placed
	// as seq 10 after the genuine line 9.
	line9 := decodeEvent(t, orig[8])
	forgedEv := testEvent(999)
	normalise(forgedEv)
	forgedEv.Chain = Chain{Seq: 10, Prev: line9.Chain.Hash}
	forged, err := seal(forgedEv)
	if err != nil {
		t.Fatal(err)
	}
	// resealed is line 10 edited and given a recomputed hash.
	editedEv := decodeEvent(t, orig[9])
	editedEv.CRM.Records = 1
	editedEv.Chain.Hash = ""
	resealed, err := seal(&editedEv)
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name     string
		edit     func([]string) []string
		noNL     bool
		wantLine int
		reason   string
	}{
		{"an edited field is a hash mismatch on that line", func(l []string) []string {
			l[9] = strings.Replace(l[9], `"records":10`, `"records":1`, 1)
			return l
		}, false, 10, "hash mismatch"},
		{"an edited reason string is a hash mismatch", func(l []string) []string {
			l[4] = strings.Replace(l[4], `sales reps`, `sales repz`, 1)
			return l
		}, false, 5, "hash mismatch"},
		{"a deleted line is a seq gap on the line after it", func(l []string) []string {
			return append(l[:9:9], l[10:]...)
		}, false, 10, "seq gap"},
		{"a deleted first line is a gap with RequireGenesis", func(l []string) []string {
			return l[1:]
		}, false, 1, "expected seq 1"},
		{"swapped lines fail on the first of them", func(l []string) []string {
			l[9], l[10] = l[10], l[9]
			return l
		}, false, 10, "seq gap"},
		{"an inserted forged line with a valid own hash is named", func(l []string) []string {
			return append(append(l[:9:9], string(forged)), l[9:]...)
		}, false, 10, "inserted line"},
		{"an edited line with a recomputed hash breaks the next link", func(l []string) []string {
			l[9] = string(resealed)
			return l
		}, false, 11, "prev mismatch"},
		{"a truncated last line is incomplete", func(l []string) []string {
			l[19] = l[19][:len(l[19])/2]
			return l
		}, true, 20, "incomplete last line"},
		{"a garbage line is malformed", func(l []string) []string {
			l[2] = "not json at all"
			return l
		}, false, 3, "malformed"},
		{"a line without chain is malformed", func(l []string) []string {
			l[2] = `{"time":"2026-11-23T09:14:03Z"}`
			return l
		}, false, 3, "no chain"},
		{"a duplicated key is malformed", func(l []string) []string {
			l[2] = `{"a":1,"a":2,` + l[2][1:]
			return l
		}, false, 3, "malformed"},
		{"a line of another JSON type is malformed", func(l []string) []string {
			l[2] = `[1,2,3]`
			return l
		}, false, 3, "malformed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lines := tc.edit(append([]string(nil), orig...))
			p := filepath.Join(t.TempDir(), "copy.jsonl")
			writeLines(t, p, lines, !tc.noNL)
			rep, err := VerifyFile(p, RequireGenesis())
			if err != nil {
				t.Fatal(err)
			}
			if rep.FirstBadLine != tc.wantLine || !strings.Contains(rep.Reason, tc.reason) {
				t.Fatalf("FirstBadLine=%d Reason=%q, want line %d with %q", rep.FirstBadLine, rep.Reason, tc.wantLine, tc.reason)
			}
			if s := rep.String(); !strings.Contains(s, p+": line ") || !strings.Contains(s, tc.reason) {
				t.Errorf("String() = %q", s)
			}
			if rep.Events != tc.wantLine-1 {
				t.Errorf("Events = %d, want %d verified before the bad line", rep.Events, tc.wantLine-1)
			}
		})
	}
}

func TestVerifyOfEmptyAndMissingFiles(t *testing.T) {
	p := filepath.Join(t.TempDir(), "empty.jsonl")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err := VerifyFile(p)
	if err != nil || !rep.OK() || rep.Events != 0 {
		t.Fatalf("empty file: %+v, %v", rep, err)
	}
	if _, err := VerifyFile(filepath.Join(t.TempDir(), "nope.jsonl")); err == nil {
		t.Fatal("a missing file must be an error")
	}
}

func TestVerifyOfAHugeLine(t *testing.T) {
	p := filepath.Join(t.TempDir(), "huge.jsonl")
	if err := os.WriteFile(p, []byte(`{"x":"`+strings.Repeat("a", 3<<20)+`"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err := VerifyFile(p)
	if err != nil || rep.FirstBadLine != 1 {
		t.Fatalf("huge line: %+v, %v", rep, err)
	}
}

func TestRotationBySizeKeepsTheChainAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	cfg := fileConfig(t, dir)
	cfg.Sinks[0].MaxSize = 8 << 10
	a, _ := start(t, cfg, AlertsConfig{}, nil)
	for i := 1; i <= 100; i++ {
		a.Record(testEvent(i), nil)
	}
	closeAuditor(t, a)

	files := RotatedFiles(cfg.Sinks[0].Path)
	if len(files) < 3 {
		t.Fatalf("files = %v, want several rotated files", files)
	}
	for _, f := range files {
		if info, _ := os.Stat(f); info.Size() > 8<<10 {
			t.Errorf("%s is %d bytes, above max_size", f, info.Size())
		}
	}
	rep, err := VerifyFiles(files, RequireGenesis())
	if err != nil || !rep.OK() || rep.Events != 100 || rep.Files != len(files) {
		t.Fatalf("VerifyFiles = %+v, %v", rep, err)
	}

	// The second file continues from the first's last hash.
	first, _ := VerifyFile(files[0])
	second, err := VerifyFile(files[1], WithStart(first.LastSeq+1, first.LastHash))
	if err != nil || !second.OK() {
		t.Fatalf("second file from the first's end: %+v, %v", second, err)
	}
	alone, _ := VerifyFile(files[1])
	if !alone.OK() || alone.FirstSeq != first.LastSeq+1 || alone.FirstPrev != first.LastHash {
		t.Errorf("second file alone: %+v, want it to report where it continues from", alone)
	}
	if strict, _ := VerifyFile(files[1], RequireGenesis()); strict.OK() {
		t.Error("a continuation file passed RequireGenesis")
	}
	// A missing middle file breaks the chain at the start of the next.
	if len(files) >= 3 {
		gap, _ := VerifyFiles([]string{files[0], files[2]})
		if gap.OK() || gap.BadFile != files[2] || gap.FirstBadLine != 1 {
			t.Errorf("missing middle file: %+v", gap)
		}
	}
}

func TestRestartContinuesTheChain(t *testing.T) {
	dir := t.TempDir()
	cfg := fileConfig(t, dir)
	for round := 0; round < 3; round++ {
		a, _ := start(t, cfg, AlertsConfig{}, nil)
		for i := 1; i <= 10; i++ {
			a.Record(testEvent(round*10+i), nil)
		}
		closeAuditor(t, a)
	}
	rep, err := VerifyFile(cfg.Sinks[0].Path, RequireGenesis())
	if err != nil || !rep.OK() || rep.Events != 30 || rep.LastSeq != 30 {
		t.Fatalf("after restarts: %+v, %v", rep, err)
	}
}

func TestRestartAfterATornLineContinuesFromTheLastGoodOne(t *testing.T) {
	dir := t.TempDir()
	cfg := fileConfig(t, dir)
	a, _ := start(t, cfg, AlertsConfig{}, nil)
	for i := 1; i <= 5; i++ {
		a.Record(testEvent(i), nil)
	}
	closeAuditor(t, a)
	path := cfg.Sinks[0].Path
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"time":"2026-11-23T09:14:03Z","chain":{"se`) // crash mid-write
	f.Close()

	a, _ = start(t, cfg, AlertsConfig{}, nil)
	a.Record(testEvent(6), nil)
	closeAuditor(t, a)
	lines := readLines(t, path)
	if len(lines) != 7 {
		t.Fatalf("%d lines, want 5 + torn + 1", len(lines))
	}
	if ev := decodeEvent(t, lines[6]); ev.Chain.Seq != 6 {
		t.Errorf("resumed at seq %d, want 6", ev.Chain.Seq)
	}
	rep, _ := VerifyFile(path)
	if rep.FirstBadLine != 6 || !strings.Contains(rep.Reason, "malformed") {
		t.Errorf("verify = %+v, want the torn line 6 named", rep)
	}
}

func TestRestartAfterRotationContinuesFromTheRotatedFile(t *testing.T) {
	dir := t.TempDir()
	cfg := fileConfig(t, dir)
	a, _ := start(t, cfg, AlertsConfig{}, nil)
	for i := 1; i <= 5; i++ {
		a.Record(testEvent(i), nil)
	}
	closeAuditor(t, a)
	// An operator (or a rotation right before a crash) leaves the current
	// file empty: the chain must continue from the newest rotated file.
	path := cfg.Sinks[0].Path
	if err := os.Rename(path, strings.TrimSuffix(path, ".jsonl")+"-20261123T091403.000000000Z.jsonl"); err != nil {
		t.Fatal(err)
	}
	a, _ = start(t, cfg, AlertsConfig{}, nil)
	a.Record(testEvent(6), nil)
	closeAuditor(t, a)
	rep, err := VerifyFiles(RotatedFiles(path), RequireGenesis())
	if err != nil || !rep.OK() || rep.Events != 6 {
		t.Fatalf("verify = %+v, %v", rep, err)
	}
}
