package identity

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestSignedHeaders: a signed-header scheme signs method, escaped path,
// timestamp and nonce with the key from auth.params and writes the
// headers; the caller's own signature headers are removed; a missing
// param is named; the scheme needs auth.type profile.
func TestSignedHeaders(t *testing.T) {
	spec := ProfileCredentialSpec{
		Signed: &SignedSpec{
			Key:          "{param.appSecret}",
			StringToSign: "{method}\n{path_escaped}\n\nx-api-nonce:{nonce}\nx-api-timestamp:{timestamp}\n",
			Encoding:     "base64",
			Headers: map[string]string{
				"X-Api-ClientID": "{param.clientId}", "X-Api-Timestamp": "{timestamp}",
				"X-Api-Nonce": "{nonce}", "X-Api-Signature": "{signature}",
			},
		},
		StripHeaders: []string{"X-Api-Signature", "X-Kd-Appkey"},
	}
	params := map[string]string{"appSecret": "kd-secret", "clientId": "client-1"}
	c, err := NewProfileCredentials(UpstreamAuthConfig{Type: AuthProfile, Params: params}, spec, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	sc := c.(*signedCredentials)
	sc.now = func() time.Time { return time.Unix(1733472000, 0) }
	sc.nonce = func() string { return "n0nce" }
	req, _ := http.NewRequest("POST", "http://kd.example/k3cloud/Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.View.common.kdsvc", strings.NewReader(`{"formid":"BD_Customer"}`))
	req.Header.Set("X-Api-Signature", "caller-sig")
	req.Header.Set("X-Kd-Appkey", "caller")
	if err := c.Apply(context.Background(), req, ""); err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha256.New, []byte("kd-secret"))
	mac.Write([]byte("POST\n%2Fk3cloud%2FKingdee.BOS.WebApi.ServicesStub.DynamicFormService.View.common.kdsvc\n\nx-api-nonce:n0nce\nx-api-timestamp:1733472000\n"))
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if got := req.Header.Get("X-Api-Signature"); got != want {
		t.Errorf("signature %q, want %q", got, want)
	}
	if req.Header.Get("X-Api-ClientID") != "client-1" || req.Header.Get("X-Api-Timestamp") != "1733472000" || req.Header.Get("X-Kd-Appkey") != "" {
		t.Errorf("headers: %v", req.Header)
	}
	if _, err := NewProfileCredentials(UpstreamAuthConfig{Type: AuthProfile, Params: map[string]string{"appSecret": "x"}}, spec, nil, nil); err == nil || !strings.Contains(err.Error(), "clientId") {
		t.Errorf("missing param: %v", err)
	}
	if _, err := NewProfileCredentials(UpstreamAuthConfig{Type: AuthStatic, Token: "t", Params: params}, spec, nil, nil); err == nil {
		t.Error("a signed scheme with a static token accepted")
	}
}
