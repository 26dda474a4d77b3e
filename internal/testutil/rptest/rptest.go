// Package rptest is a small OpenID Connect relying party for tests, written the way an application
// team would with github.com/coreos/go-oidc and golang.org/x/oauth2: authorization code with PKCE,
// state and nonce, id_token verification, userinfo, and RP-initiated logout.
package rptest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// RP is a running relying party.
type RP struct {
	URL      string
	Config   *oauth2.Config
	provider *oidc.Provider
	mu       sync.Mutex
	pending  map[string]pending // by state
	// Last holds what the last callback saw; the callback writes it under mu, so read it with
	// Result and clear it with Reset.
	Last Result
	// Extra authorize parameters (prompt, response_mode, ui_locales, ...).
	Params url.Values
	issuer string
}

type pending struct{ verifier, nonce string }

// Result is a completed sign-in.
type Result struct {
	Subject  string
	IDToken  string
	Token    *oauth2.Token
	UserInfo map[string]any
	Error    string
}

func random() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Start runs an RP for clientID (secret empty for a public client) against issuer.
func Start(t testing.TB, issuer, clientID, secret string, scopes []string) *RP {
	t.Helper()
	rp := &RP{pending: map[string]pending{}, Params: url.Values{}, issuer: issuer}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	rp.URL = srv.URL
	provider, err := oidc.NewProvider(context.Background(), issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	rp.provider = provider
	rp.Config = &oauth2.Config{ClientID: clientID, ClientSecret: secret, Endpoint: provider.Endpoint(),
		RedirectURL: srv.URL + "/callback", Scopes: scopes}
	mux.HandleFunc("/login", rp.login)
	mux.HandleFunc("/callback", rp.callback)
	mux.HandleFunc("/bye", rp.bye)
	return rp
}

func (rp *RP) login(w http.ResponseWriter, r *http.Request) {
	state, nonce, verifier := random(), random(), oauth2.GenerateVerifier()
	rp.mu.Lock()
	rp.pending[state] = pending{verifier, nonce}
	rp.mu.Unlock()
	opts := []oauth2.AuthCodeOption{oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)}
	for k := range rp.Params {
		opts = append(opts, oauth2.SetAuthURLParam(k, rp.Params.Get(k)))
	}
	http.Redirect(w, r, rp.Config.AuthCodeURL(state, opts...), http.StatusFound)
}

func (rp *RP) callback(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm() // form_post delivers code and state in the body
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fail := func(msg string) {
		rp.mu.Lock()
		rp.Last = Result{Error: msg}
		rp.mu.Unlock()
		fmt.Fprintf(w, `<html><body><p id="error">%s</p></body></html>`, html.EscapeString(msg))
	}
	if e := r.Form.Get("error"); e != "" {
		fail(e)
		return
	}
	rp.mu.Lock()
	p, ok := rp.pending[r.Form.Get("state")]
	delete(rp.pending, r.Form.Get("state"))
	rp.mu.Unlock()
	if !ok {
		fail("unknown state")
		return
	}
	ctx := r.Context()
	tok, err := rp.Config.Exchange(ctx, r.Form.Get("code"), oauth2.VerifierOption(p.verifier))
	if err != nil {
		fail("exchange: " + err.Error())
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := rp.provider.Verifier(&oidc.Config{ClientID: rp.Config.ClientID}).Verify(ctx, raw)
	if err != nil {
		fail("id_token: " + err.Error())
		return
	}
	if idt.Nonce != p.nonce {
		fail("nonce mismatch")
		return
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		fail("at_hash: " + err.Error())
		return
	}
	ui, err := rp.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		fail("userinfo: " + err.Error())
		return
	}
	var claims map[string]any
	_ = ui.Claims(&claims)
	rp.mu.Lock()
	rp.Last = Result{Subject: idt.Subject, IDToken: raw, Token: tok, UserInfo: claims}
	rp.mu.Unlock()
	logout := rp.issuer + "/connect/endsession?" + url.Values{"id_token_hint": {raw},
		"post_logout_redirect_uri": {rp.URL + "/bye"}, "state": {"s1"}}.Encode()
	fmt.Fprintf(w, `<html><body><p id="signed-in">%s</p><a id="logout" href="%s">logout</a></body></html>`,
		html.EscapeString(idt.Subject), html.EscapeString(logout))
}

// bye is the post_logout_redirect_uri: a page a browser test can wait for.
func (rp *RP) bye(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, `<html><body><p id="signed-out">%s</p></body></html>`, html.EscapeString(r.URL.Query().Get("state")))
}

// Reset forgets the last callback's outcome.
func (rp *RP) Reset() {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	rp.Last = Result{}
}

// Result returns the last callback's outcome.
func (rp *RP) Result() Result {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return rp.Last
}
