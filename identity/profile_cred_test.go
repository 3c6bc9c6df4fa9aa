package identity

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// fxTokenServer answers like 纷享销客's /cgi/corpAccessToken/get/V2.
func fxTokenServer(t *testing.T, fetches *atomic.Int32, refuse bool) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in map[string]string
		_ = json.NewDecoder(r.Body).Decode(&in)
		if r.URL.Path != "/cgi/corpAccessToken/get/V2" || in["appSecret"] != "s3cr3t-app" {
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		n := fetches.Add(1)
		if refuse {
			fmt.Fprint(w, `{"errorCode":20016,"errorMessage":"permanentCode invalid"}`)
			return
		}
		fmt.Fprintf(w, `{"errorCode":0,"corpAccessToken":"gw-token-%d","corpId":"FSCorp","expiresIn":7200}`, n)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func fxSpec(base string) ProfileCredentialSpec {
	return ProfileCredentialSpec{
		BaseURL:      base,
		TokenPath:    "/cgi/corpAccessToken/get/V2",
		TokenBody:    `{"appId": "{param.appId}", "appSecret": "{param.appSecret}", "permanentCode": "{param.permanentCode}"}`,
		TokenPointer: "/corpAccessToken", ExpiresPointer: "/expiresIn", OKPointer: "/errorCode", OKValue: "0",
		Values: map[string]string{"corpId": "/corpId"},
		Place: []ProfilePlacement{
			{Body: "/corpAccessToken", Value: "{token}"},
			{Body: "/corpId", Value: "{value.corpId}"},
			{Body: "/currentOpenUserId", Value: "{param.currentOpenUserId}"},
		},
		StripHeaders: []string{"X-Api-Signature"},
	}
}

var fxParams = map[string]string{"appId": "FSAID_1", "appSecret": "s3cr3t-app", "permanentCode": "perm", "currentOpenUserId": "FSUID_GW"}

// TestProfileCredentialsTokenEndpoint: the token comes from the profile's
// token endpoint (once, then cached), is written into the body with the
// corpId it returned and the configured user; the caller's values and
// headers are gone.
func TestProfileCredentialsTokenEndpoint(t *testing.T) {
	var fetches atomic.Int32
	srv := fxTokenServer(t, &fetches, false)
	creds, err := NewProfileCredentials(UpstreamAuthConfig{Type: AuthProfile, Params: fxParams}, fxSpec(srv.URL), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		req, _ := http.NewRequest("POST", "http://crm.example/cgi/crm/v2/data/query",
			strings.NewReader(`{"corpAccessToken":"caller","currentOpenUserId":"FSUID_ADMIN","data":{"dataObjectApiName":"AccountObj"}}`))
		req.Header.Set("Authorization", "Bearer caller")
		req.Header.Set("X-Api-Signature", "caller-sig")
		if err := creds.Apply(context.Background(), req, "Bearer caller"); err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(req.Body)
		var got map[string]any
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("body not JSON: %s", b)
		}
		if got["corpAccessToken"] != "gw-token-1" || got["corpId"] != "FSCorp" || got["currentOpenUserId"] != "FSUID_GW" {
			t.Errorf("credential not written: %s", b)
		}
		if strings.Contains(string(b), "caller") || strings.Contains(string(b), "FSUID_ADMIN") {
			t.Errorf("caller's values kept: %s", b)
		}
		if req.ContentLength != int64(len(b)) || req.Header.Get("Authorization") != "" || req.Header.Get("X-Api-Signature") != "" {
			t.Errorf("length %d/%d, headers %v", req.ContentLength, len(b), req.Header)
		}
	}
	if fetches.Load() != 1 {
		t.Errorf("token fetched %d times, want 1 (cached)", fetches.Load())
	}
	creds.Invalidate("gw-token-1")
	req, _ := http.NewRequest("POST", "http://crm.example/x", strings.NewReader(`{}`))
	if err := creds.Apply(context.Background(), req, ""); err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(req.Body); !strings.Contains(string(b), "gw-token-2") {
		t.Errorf("after Invalidate want a new token: %s", b)
	}
}

// TestProfileCredentialsRefused: a token answer with errorCode != 0 is an
// error that names the marker, never the app secret.
func TestProfileCredentialsRefused(t *testing.T) {
	var fetches atomic.Int32
	srv := fxTokenServer(t, &fetches, true)
	creds, err := NewProfileCredentials(UpstreamAuthConfig{Type: AuthProfile, Params: fxParams}, fxSpec(srv.URL), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", "http://crm.example/x", strings.NewReader(`{}`))
	err = creds.Apply(context.Background(), req, "")
	if err == nil || !strings.Contains(err.Error(), "/errorCode") || strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("got %v", err)
	}
}

// TestProfileCredentialsConfigErrors: missing params are named; passthrough
// and a profile without a token endpoint are refused; params never print.
func TestProfileCredentialsConfigErrors(t *testing.T) {
	_, err := NewProfileCredentials(UpstreamAuthConfig{Type: AuthProfile, Params: map[string]string{"appId": "x"}}, fxSpec("http://x"), nil, nil)
	if err == nil || !strings.Contains(err.Error(), "appSecret, currentOpenUserId, permanentCode") {
		t.Errorf("missing params: %v", err)
	}
	_, err = NewProfileCredentials(UpstreamAuthConfig{Type: AuthPassthrough}, fxSpec("http://x"), nil, nil)
	if err == nil || !strings.Contains(err.Error(), "passthrough") {
		t.Errorf("passthrough: %v", err)
	}
	spec := fxSpec("http://x")
	spec.TokenPath = ""
	if _, err = NewProfileCredentials(UpstreamAuthConfig{Type: AuthProfile, Params: fxParams}, spec, nil, nil); err == nil {
		t.Error("auth type profile without a token endpoint accepted")
	}
	// A static token with {value.corpId} from params.
	static := UpstreamAuthConfig{Type: AuthStatic, Token: "st", Params: map[string]string{"corpId": "C", "currentOpenUserId": "U"}}
	creds, err := NewProfileCredentials(static, fxSpec("http://x"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", "http://crm.example/x", strings.NewReader(`{"a":1}`))
	if err := creds.Apply(context.Background(), req, ""); err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(req.Body); string(b) != `{"corpAccessToken":"st","corpId":"C","currentOpenUserId":"U","a":1}` {
		t.Errorf("static placement: %s", b)
	}
	cfg := UpstreamAuthConfig{Type: AuthProfile, Params: fxParams}
	js, _ := json.Marshal(cfg)
	if s := cfg.String() + string(js) + fmt.Sprintf("%#v", cfg); strings.Contains(s, "s3cr3t") || strings.Contains(s, "perm\"") {
		t.Errorf("params printed: %s", s)
	}
}
