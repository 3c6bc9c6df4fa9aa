package oidctest

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// The authorization code flow with PKCE (RFC 7636, S256 only), for tests
// and demos of interactive logins (the approval page): GET /authorize
// shows a login form (or, with SetAutoLogin, signs the named user in at
// once); POST /authorize checks the user's password and redirects to the
// client's redirect_uri with a code; POST /token with
// grant_type=authorization_code trades the code, once, for an ID token
// and an access token, when the code_verifier matches the challenge and
// client_id and redirect_uri are those the code was issued for.

// User is someone who can sign in at the issuer.
type User struct {
	Sub, Email, Name, Password string
	Groups, Roles              []string
}

type authState struct {
	mu     sync.Mutex
	users  map[string]User // by login name (email)
	codes  map[string]authCode
	auto   string
	logins int
}

type authCode struct {
	user                          User
	clientID, redirect, challenge string
	nonce                         string
	expires                       time.Time
}

var authStates sync.Map // *Issuer -> *authState

func (is *Issuer) auth() *authState {
	st, _ := authStates.LoadOrStore(is, &authState{users: map[string]User{}, codes: map[string]authCode{}})
	return st.(*authState)
}

// AddUser lets u sign in with its email and password.
func (is *Issuer) AddUser(u User) {
	st := is.auth()
	st.mu.Lock()
	st.users[u.Email] = u
	st.mu.Unlock()
}

// SetAutoLogin signs the user with this email in without a form ("" to
// show the form again).
func (is *Issuer) SetAutoLogin(email string) {
	st := is.auth()
	st.mu.Lock()
	st.auto = email
	st.mu.Unlock()
}

// Logins counts the successful sign-ins.
func (is *Issuer) Logins() int {
	st := is.auth()
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.logins
}

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Sign in - test IdP</title></head>
<body><h1>Sign in</h1>{{if .Error}}<p id="error">{{.Error}}</p>{{end}}
<form method="post" action="/authorize">
{{range $k, $v := .Params}}<input type="hidden" name="{{$k}}" value="{{$v}}">{{end}}
<label>Email <input id="username" name="username" autocomplete="username"></label>
<label>Password <input id="password" name="password" type="password"></label>
<button id="signin" type="submit">Sign in</button>
</form></body></html>`))

func (is *Issuer) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	f := r.Form
	params := map[string]string{}
	for _, k := range []string{"response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "code_challenge", "code_challenge_method"} {
		params[k] = f.Get(k)
	}
	redirect, err := url.Parse(params["redirect_uri"])
	switch {
	case err != nil || redirect.Host == "" || params["client_id"] == "":
		http.Error(w, "invalid client_id or redirect_uri", http.StatusBadRequest)
		return
	case params["response_type"] != "code" || params["code_challenge"] == "" || params["code_challenge_method"] != "S256":
		http.Error(w, "want response_type=code with an S256 code_challenge (PKCE)", http.StatusBadRequest)
		return
	}
	st := is.auth()
	st.mu.Lock()
	login := st.auto
	var u User
	var ok bool
	if r.Method == http.MethodPost {
		u, ok = st.users[f.Get("username")]
		ok = ok && subtle.ConstantTimeCompare([]byte(u.Password), []byte(f.Get("password"))) == 1
	} else if login != "" {
		u, ok = st.users[login]
	}
	st.mu.Unlock()
	if !ok {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		msg := ""
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusUnauthorized)
			msg = "wrong email or password"
		}
		_ = loginPage.Execute(w, map[string]any{"Params": params, "Error": msg})
		return
	}
	code := randomString()
	st.mu.Lock()
	st.codes[code] = authCode{user: u, clientID: params["client_id"], redirect: params["redirect_uri"],
		challenge: params["code_challenge"], nonce: params["nonce"], expires: time.Now().Add(time.Minute)}
	st.logins++
	st.mu.Unlock()
	q := redirect.Query()
	q.Set("code", code)
	q.Set("state", params["state"])
	redirect.RawQuery = q.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

// serveCodeToken trades a code for tokens (POST /token,
// grant_type=authorization_code).
func (is *Issuer) serveCodeToken(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm
	clientID := f.Get("client_id")
	if id, _, ok := r.BasicAuth(); ok {
		clientID = id
	}
	st := is.auth()
	st.mu.Lock()
	c, ok := st.codes[f.Get("code")]
	delete(st.codes, f.Get("code")) // once only, whatever happens next
	st.mu.Unlock()
	sum := sha256.Sum256([]byte(f.Get("code_verifier")))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	if !ok || time.Now().After(c.expires) || c.clientID != clientID || c.redirect != f.Get("redirect_uri") ||
		subtle.ConstantTimeCompare([]byte(challenge), []byte(c.challenge)) != 1 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant"})
		return
	}
	claims := is.Claims(c.user.Sub, clientID)
	claims["email"], claims["name"] = c.user.Email, c.user.Name
	claims["groups"], claims["roles"] = c.user.Groups, c.user.Roles
	if c.nonce != "" {
		claims["nonce"] = c.nonce
	}
	id := is.Sign(claims)
	writeJSON(w, map[string]any{"access_token": id, "id_token": id, "token_type": "Bearer", "expires_in": 3600})
}

func randomString() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
