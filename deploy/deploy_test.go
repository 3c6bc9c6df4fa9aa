// Package deploy holds the tests of the deployment artifacts that live
// outside Go code: the Dockerfile at the repository root and the systemd
// unit in deploy/systemd (docs/deploy.md). The Helm chart has its own module
// in deploy/helm/charttest.
package deploy

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// dockerInstruction is one Dockerfile instruction, continuation lines joined.
type dockerInstruction struct {
	line int
	op   string // upper case: FROM, RUN, COPY, USER, ...
	args string
}

type dockerStage struct {
	from, name string
	body       []dockerInstruction
}

func parseDockerfile(t *testing.T, path string) []dockerStage {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		stages []dockerStage
		cur    strings.Builder
		start  int
		n      int
	)
	flush := func() {
		text := strings.TrimSpace(cur.String())
		cur.Reset()
		if text == "" {
			return
		}
		op, args, _ := strings.Cut(text, " ")
		in := dockerInstruction{line: start, op: strings.ToUpper(op), args: strings.TrimSpace(args)}
		if in.op == "FROM" {
			f := strings.Fields(in.args)
			st := dockerStage{from: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			}
			stages = append(stages, st)
			return
		}
		if len(stages) == 0 {
			if in.op != "ARG" {
				t.Fatalf("%s:%d: %s before the first FROM", path, in.line, in.op)
			}
			return
		}
		stages[len(stages)-1].body = append(stages[len(stages)-1].body, in)
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		n++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		if strings.HasSuffix(trimmed, `\`) {
			cur.WriteString(strings.TrimSuffix(trimmed, `\`) + " ")
			continue
		}
		cur.WriteString(trimmed)
		flush()
	}
	flush()
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return stages
}

// makefileVar returns the right-hand side of NAME := ... in the Makefile.
func makefileVar(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^` + name + `\s*:?=\s*(.*)$`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("Makefile has no %s", name)
	}
	return strings.TrimSpace(string(m[1]))
}

func TestDockerfileBuildsTheMakefileBinary(t *testing.T) {
	stages := parseDockerfile(t, "../Dockerfile")
	if len(stages) != 2 {
		t.Fatalf("want a builder and a final stage, got %d stages", len(stages))
	}
	build, final := stages[0], stages[1]
	if !strings.HasPrefix(build.from, "golang:1.26") {
		t.Errorf("builder stage FROM %s, want golang:1.26", build.from)
	}
	if final.from != "gcr.io/distroless/static-debian12:nonroot" {
		t.Errorf("final stage FROM %s, want distroless static nonroot", final.from)
	}

	// The builder's go build is make build's, with ${VERSION}/${COMMIT}
	// for $(VERSION)/$(COMMIT).
	var goBuild string
	for _, in := range build.body {
		if in.op == "RUN" && strings.Contains(in.args, "go build") {
			goBuild = in.args
		}
	}
	if goBuild == "" {
		t.Fatal("no RUN go build in the builder stage")
	}
	ldflags := makefileVar(t, "LDFLAGS")
	ldflags = strings.NewReplacer("$(VERSION)", "${VERSION}", "$(COMMIT)", "${COMMIT}").Replace(ldflags)
	want := `CGO_ENABLED=0 go build -trimpath -ldflags "` + ldflags + `" -o /out/crmgw ./cmd/crmgw`
	if goBuild != want {
		t.Errorf("Dockerfile build differs from make build:\n got  %s\n want %s", goBuild, want)
	}
	// make build's own command, for the same flags.
	mk, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(mk), `CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/crmgw ./cmd/crmgw`) {
		t.Errorf("the Makefile's build command changed; keep the Dockerfile's in step")
	}
	args := map[string]bool{}
	for _, in := range build.body {
		if in.op == "ARG" {
			name, _, _ := strings.Cut(in.args, "=")
			args[name] = true
		}
	}
	if !args["VERSION"] || !args["COMMIT"] {
		t.Errorf("builder stage lacks ARG VERSION / ARG COMMIT: %v", args)
	}

	var user, entrypoint string
	policies := false
	for _, in := range final.body {
		switch in.op {
		case "USER":
			user = in.args
		case "ENTRYPOINT":
			entrypoint = in.args
		case "RUN":
			t.Errorf("line %d: RUN in the final stage (distroless has no shell)", in.line)
		case "COPY":
			if strings.HasPrefix(in.args, "--from="+build.name+" /src/policies ") && strings.HasSuffix(in.args, " /etc/crmgw/policies") {
				policies = true
			}
		}
	}
	// A root user would be 0, root, or no USER at all (distroless's
	// default is root even on the :nonroot tag if USER is overridden).
	if u, _, _ := strings.Cut(user, ":"); u == "" || u == "0" || u == "root" {
		t.Errorf("final stage USER %q: the image must not run as root", user)
	}
	if !policies {
		t.Errorf("the default policies are not copied to /etc/crmgw/policies")
	}
	var ep []string
	if err := json.Unmarshal([]byte(entrypoint), &ep); err != nil {
		t.Fatalf("ENTRYPOINT %q is not exec form: %v", entrypoint, err)
	}
	if strings.Join(ep, " ") != "/usr/local/bin/crmgw serve -c /etc/crmgw/crmgw.yaml" {
		t.Errorf("ENTRYPOINT = %v", ep)
	}
}

// unit is a parsed systemd unit: section -> key -> values in order.
type unit map[string]map[string][]string

func parseUnit(t *testing.T, path string) unit {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	u := unit{}
	section := ""
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: not a key=value in a section: %q", path, i+1, line)
			}
			u[section][strings.TrimSpace(k)] = append(u[section][strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	return u
}

func TestSystemdUnitIsHardened(t *testing.T) {
	u := parseUnit(t, "systemd/crmgw.service")
	svc := u["Service"]
	if svc == nil {
		t.Fatal("no [Service] section")
	}
	for key, want := range map[string]string{
		"DynamicUser":             "yes",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"NoNewPrivileges":         "yes",
		"PrivateTmp":              "yes",
		"PrivateDevices":          "yes",
		"CapabilityBoundingSet":   "",
		"AmbientCapabilities":     "",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
		"StateDirectory":          "crmgw",
		"LogsDirectory":           "crmgw",
		"ExecReload":              "/bin/kill -HUP $MAINPID",
		"ExecStart":               "/usr/local/bin/crmgw serve --config /etc/crmgw/crmgw.yaml",
		"KillSignal":              "SIGTERM",
		"MemoryDenyWriteExecute":  "yes",
		"RestrictSUIDSGID":        "yes",
	} {
		got, ok := svc[key]
		if !ok {
			t.Errorf("[Service] %s is missing", key)
			continue
		}
		// The last assignment wins for these keys; an earlier one that a
		// later line empties again would be a way around the check.
		if got[len(got)-1] != want {
			t.Errorf("[Service] %s=%q, want %q", key, got[len(got)-1], want)
		}
	}
	for _, key := range []string{"User", "Group", "SupplementaryGroups", "PermissionsStartOnly"} {
		if _, ok := svc[key]; ok {
			t.Errorf("[Service] %s weakens DynamicUser", key)
		}
	}
	for _, key := range []string{"ReadWritePaths", "InaccessiblePaths"} {
		if v, ok := svc[key]; ok && strings.Contains(strings.Join(v, " "), "/") && !strings.Contains(strings.Join(v, " "), "crmgw") {
			t.Errorf("[Service] %s=%v opens more than crmgw's own directories", key, v)
		}
	}
	if filter := svc["SystemCallFilter"]; len(filter) == 0 || filter[0] != "@system-service" {
		t.Errorf("SystemCallFilter = %v, want @system-service first", filter)
	}
	if u["Install"]["WantedBy"] == nil {
		t.Errorf("no [Install] WantedBy")
	}
}

// TestSystemdUnitVerifies runs systemd-analyze verify on the unit where the
// command exists, with ExecStart pointing at an executable that exists here
// (verify refuses a unit whose binary is missing). A unit with a misspelt
// hardening value must be reported, or the check could not fail.
func TestSystemdUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed")
	}
	b, err := os.ReadFile("systemd/crmgw.service")
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(b), "ExecStart=/usr/local/bin/crmgw ", "ExecStart="+self+" ", 1)
	if problems := verifyUnit(t, analyze, text); len(problems) != 0 {
		t.Errorf("systemd-analyze verify:\n%s", strings.Join(problems, "\n"))
	}
	broken := strings.Replace(text, "ProtectSystem=strict", "ProtectSystem=strcit", 1)
	if problems := verifyUnit(t, analyze, broken); len(problems) == 0 {
		t.Errorf("systemd-analyze verify accepted ProtectSystem=strcit")
	}
}

func verifyUnit(t *testing.T, analyze, text string) []string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "crmgw.service")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(analyze, "verify", "--man=no", "--generators=no", path)
	cmd.Env = append(os.Environ(), "SYSTEMD_LOG_LEVEL=warning")
	out, err := cmd.CombinedOutput()
	var problems []string
	if err != nil {
		problems = append(problems, err.Error())
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.Contains(line, "crmgw.service") {
			problems = append(problems, line)
		}
	}
	return problems
}
