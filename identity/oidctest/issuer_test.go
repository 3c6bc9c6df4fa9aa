package oidctest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

func TestIssuerOnAnAddressServesDiscoveryAndKeys(t *testing.T) {
	is, err := NewIssuerOn("127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	defer is.Close()
	resp, err := http.Get(is.URL() + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	err = json.NewDecoder(resp.Body).Decode(&meta)
	resp.Body.Close()
	if err != nil || meta.Issuer != is.URL() || !strings.HasPrefix(meta.JWKSURI, is.URL()) {
		t.Fatalf("discovery = %+v, %v", meta, err)
	}
	resp, err = http.Get(meta.JWKSURI)
	if err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	err = json.NewDecoder(resp.Body).Decode(&set)
	resp.Body.Close()
	if err != nil || len(set.Key("rsa-1")) != 1 || len(set.Key("ec-1")) != 1 {
		t.Fatalf("jwks = %+v, %v", set, err)
	}
	for _, k := range set.Keys {
		if !k.IsPublic() {
			t.Fatalf("the JWKS publishes a private key: %s", k.KeyID)
		}
	}
	// A token signed by the issuer verifies with the published key.
	tok, err := jose.ParseSigned(is.Sign(is.Claims("u", "aud")), []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tok.Verify(set.Key("rsa-1")[0]); err != nil {
		t.Fatal(err)
	}
	if is.DiscoveryHits() != 1 || is.JWKSHits() != 1 {
		t.Fatalf("hits %d/%d", is.DiscoveryHits(), is.JWKSHits())
	}
}

func TestRotateAndRemoveKeys(t *testing.T) {
	is := NewIssuer()
	defer is.Close()
	k := is.RotateKey()
	if is.SigningKey() != k || k.ID != "rsa-2" || is.Key("rsa-1") == nil {
		t.Fatalf("after rotation: signing %s", is.SigningKey().ID)
	}
	is.RemoveKey("rsa-1")
	if is.Key("rsa-1") != nil || is.SigningKey() != k {
		t.Fatal("RemoveKey broke the signing key")
	}
}

func TestTokenEndpointMintsSignedTokens(t *testing.T) {
	is := NewIssuer()
	defer is.Close()
	resp, err := http.PostForm(is.URL()+"/token", url.Values{
		"grant_type": {"client_credentials"}, "subject": {"00u1"}, "email": {"li.wei@example.com"}, "groups": {"sales,emea"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&tr)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%s %v", resp.Status, err)
	}
	tok, err := jose.ParseSigned(tr.AccessToken, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	payload, err := tok.Verify(is.SigningKey().Public())
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	_ = json.Unmarshal(payload, &c)
	if c["sub"] != "00u1" || c["aud"] != "crmgw" || c["iss"] != is.URL() || len(c["groups"].([]any)) != 2 {
		t.Fatalf("claims %v", c)
	}
	resp, _ = http.PostForm(is.URL()+"/token", url.Values{"grant_type": {"password"}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("password grant: %s", resp.Status)
	}
}

func TestIntrospectionEndpoint(t *testing.T) {
	is := NewIssuer()
	defer is.Close()
	introspect := func(id, secret, token string) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodPost, is.IntrospectionURL(), strings.NewReader(url.Values{"token": {token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(id, secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	tok := is.Sign(is.Claims("00u1", "crmgw"))
	if st, m := introspect(IntrospectionClientID, IntrospectionClientSecret, tok); st != 200 || m["active"] != true || m["sub"] != "00u1" {
		t.Fatalf("active token: %d %v", st, m)
	}
	if st, _ := introspect(IntrospectionClientID, "wrong", tok); st != http.StatusUnauthorized {
		t.Fatalf("wrong client secret: %d", st)
	}
	foreign := SignWithKey(NewRSAKey("rsa-1"), is.Claims("00u1", "crmgw"))
	expired := is.Claims("00u1", "crmgw")
	expired["exp"] = 1
	for name, token := range map[string]string{"foreign key": foreign, "expired": is.Sign(expired), "garbage": "a.b.c"} {
		if st, m := introspect(IntrospectionClientID, IntrospectionClientSecret, token); st != 200 || m["active"] != false {
			t.Fatalf("%s: %d %v", name, st, m)
		}
	}
	is.Revoke(tok)
	if _, m := introspect(IntrospectionClientID, IntrospectionClientSecret, tok); m["active"] != false {
		t.Fatalf("revoked token: %v", m)
	}
	if is.IntrospectionHits() != 6 {
		t.Fatalf("hits = %d", is.IntrospectionHits())
	}
}
