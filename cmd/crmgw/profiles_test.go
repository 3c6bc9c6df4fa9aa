package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// profileConfig writes a configuration with one generic upstream using
// the profile file given and the repository's policies.
func profileConfig(t *testing.T, profileYAML string) (cfg, prof string) {
	t.Helper()
	dir := t.TempDir()
	prof = filepath.Join(dir, "inhouse.yaml")
	if err := os.WriteFile(prof, []byte(profileYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg = filepath.Join(dir, "crmgw.yaml")
	y := `server: {listen: 127.0.0.1:0}
admin: {listen: 127.0.0.1:0}
upstreams:
  - {name: inhouse, type: generic, profile: inhouse.yaml, url: https://crm.example.com, auth: {type: static, token: t}}
policy: {paths: [` + filepath.Join("..", "..", "policies") + `], timeout: 5s}
masking: {hmac_key: k-0123456789abcdef}
`
	abs, _ := filepath.Abs(filepath.Join("..", "..", "policies"))
	y = strings.Replace(y, filepath.Join("..", "..", "policies"), abs, 1)
	if err := os.WriteFile(cfg, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg, prof
}

const inhouseProfile = `name: inhouse
error: {body: '{"error": "{code}", "message": "{message}", "request": "{request_id}"}'}
credential:
  place: [{header: Authorization, value: "Bearer {token}"}]
endpoints:
  - name: list-customers
    match: {method: GET, path: "/api/{object}"}
    action:
      operation: list
      category: read
      object: {path: object}
      fields: {query: fields, split: ","}
    response: {records: /items}
fixtures:
  - name: list with fields
    request: {method: GET, path: /api/customers, query: "fields=name,phone"}
    expect: {operation: list, object: customers, fields: [name, phone]}
    response: '{"items": [{"name": "王芳", "phone": "13911112222"}]}'
    mask: {customers.phone: partial}
    masked: '{"items": [{"name": "王芳", "phone": "*******2222"}]}'
`

// TestValidateRunsProfileFixtures: a good profile's fixtures pass.
func TestValidateRunsProfileFixtures(t *testing.T) {
	cfg, _ := profileConfig(t, inhouseProfile)
	out, errOut, err := runCLI(t, nil, "validate", "--skip-tests", "-c", cfg)
	if err != nil {
		t.Fatalf("validate failed: %v\n%s\n%s", err, out, errOut)
	}
	if !strings.Contains(out, "profile inhouse") || !strings.Contains(out, "fixtures PASS: 1 passed") {
		t.Errorf("output lacks the fixture summary:\n%s", out)
	}
}

// TestValidateReportsProfileSchemaError: an unknown key and a bad
// operation are reported with the profile's file and line; exit 1.
func TestValidateReportsProfileSchemaError(t *testing.T) {
	bad := strings.Replace(inhouseProfile, "      operation: list\n", "      operation: lst\n      objet: x\n", 1)
	cfg, prof := profileConfig(t, bad)
	_, errOut, err := runCLI(t, nil, "validate", "--skip-tests", "-c", cfg)
	if exitCode(err) != 1 {
		t.Fatalf("want exit 1, got %v", err)
	}
	if !strings.Contains(errOut, prof+`:10: unknown key "objet"`) {
		t.Errorf("stderr lacks the unknown key with file:line:\n%s", errOut)
	}
	// With the unknown key gone the value error is reported with the
	// endpoint's line.
	bad = strings.Replace(inhouseProfile, "      operation: list\n", "      operation: lst\n", 1)
	cfg, prof = profileConfig(t, bad)
	_, errOut, err = runCLI(t, nil, "validate", "--skip-tests", "-c", cfg)
	if exitCode(err) != 1 || !strings.Contains(errOut, prof+`:6: endpoint "list-customers": action.operation: unknown operation "lst"`) {
		t.Errorf("want exit 1 naming file:line, got %v:\n%s", err, errOut)
	}
}

// TestValidateReportsFailingFixture: a fixture whose expected masked
// output is wrong fails validation, named with file, line and fixture.
func TestValidateReportsFailingFixture(t *testing.T) {
	bad := strings.Replace(inhouseProfile, `"*******2222"`, `"13911112222"`, 1)
	cfg, prof := profileConfig(t, bad)
	_, errOut, err := runCLI(t, nil, "validate", "--skip-tests", "-c", cfg)
	if exitCode(err) != 1 {
		t.Fatalf("want exit 1, got %v", err)
	}
	if !strings.Contains(errOut, prof+`:15: fixture "list with fields": masked output`) {
		t.Errorf("stderr lacks the failing fixture with file:line:\n%s", errOut)
	}
}
