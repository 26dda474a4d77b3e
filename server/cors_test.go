package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/lingpai/lingpai/storage"
)

// CORS for browser apps (issue 14): exact origins from clients' allowed_cors_origins on the
// endpoints a single-page app calls; discovery and JWKS for any origin; nothing for others.
func TestCORSHeaders(t *testing.T) {
	rig := startSMS(t, "sqlite", nil)
	s := rig.Server
	const allowed, other = "http://app.example:8080", "https://evil.example"
	ctx := context.Background()
	c, err := s.Store.Client(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	c.AllowedCORSOrigins = storage.StringList{allowed}
	if err := s.Store.UpdateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	do := func(method, path, origin string, hdr ...string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, s.URL+path, strings.NewReader("x=1"))
		req.Header.Set("Origin", origin)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, ep := range []struct {
		path, method string
		anyOrigin    bool
	}{
		{"/connect/token", "POST", false}, {"/connect/userinfo", "GET", false}, {"/connect/revocation", "POST", false},
		{"/connect/introspect", "POST", false}, {"/connect/sms/code", "POST", false},
		{"/.well-known/openid-configuration", "GET", true}, {"/.well-known/oauth-authorization-server", "GET", true},
		{"/.well-known/openid-configuration/jwks", "GET", true},
	} {
		for _, origin := range []string{allowed, other} {
			want := ""
			if origin == allowed || ep.anyOrigin {
				want = origin
			}
			pre := do(http.MethodOptions, ep.path, origin, "Access-Control-Request-Method", ep.method, "Access-Control-Request-Headers", "authorization,content-type")
			h := pre.Header
			if pre.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != want || h.Get("Access-Control-Allow-Credentials") != "" ||
				!strings.Contains(strings.Join(h.Values("Vary"), ","), "Origin") {
				t.Fatalf("preflight %s from %s: %d %v", ep.path, origin, pre.StatusCode, h)
			}
			if want != "" && (!strings.Contains(h.Get("Access-Control-Allow-Methods"), ep.method) || h.Get("Access-Control-Allow-Headers") != "Authorization, Content-Type") {
				t.Fatalf("preflight %s: %v", ep.path, h)
			}
			if want == "" && h.Get("Access-Control-Allow-Methods") != "" {
				t.Fatalf("preflight %s from %s: %v", ep.path, origin, h)
			}
			resp := do(ep.method, ep.path, origin, "Content-Type", "application/x-www-form-urlencoded")
			if resp.Header.Get("Access-Control-Allow-Origin") != want || resp.Header.Get("Access-Control-Allow-Credentials") != "" ||
				!strings.Contains(strings.Join(resp.Header.Values("Vary"), ","), "Origin") {
				t.Fatalf("%s %s from %s: %d %v", ep.method, ep.path, origin, resp.StatusCode, resp.Header)
			}
		}
	}
	// Only exact origins are registered.
	for _, bad := range []string{"https://a.example/", "https://a.example/app", "https://*.example", "*", "ftp://a.example", "a.example", "https://A.example", "https://a.example?x"} {
		err := s.Store.CreateClient(ctx, &storage.Client{ID: "bad", Name: "bad", GrantTypes: storage.StringList{"authorization_code"}, AllowedCORSOrigins: storage.StringList{bad}})
		if err == nil || !strings.Contains(err.Error(), "allowed_cors_origins") {
			t.Fatalf("origin %q accepted: %v", bad, err)
		}
	}
	for _, good := range []string{"https://a.example", "http://127.0.0.1:5173", "https://a.example:8443"} {
		if err := storage.ValidateOrigin(good); err != nil {
			t.Fatalf("origin %q refused: %v", good, err)
		}
	}
}

// spaPage is a single-page app: from "/" it starts the code flow with PKCE; at "/callback" it
// redeems the code, refreshes, reads userinfo and revokes, all with fetch, and shows the outcome.
const spaPage = `<!doctype html><meta charset="utf-8"><title>spa</title><body><script>
const AS = "__AS__", CLIENT = "spa", REDIRECT = location.origin + "/callback";
const show = (s) => { const e = document.createElement("div"); e.id = "result"; e.textContent = s; document.body.appendChild(e); };
const b64url = (b) => btoa(String.fromCharCode(...new Uint8Array(b))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const form = (o) => ({method: "POST", headers: {"Content-Type": "application/x-www-form-urlencoded"}, body: new URLSearchParams(o)});
async function start() {
  const v = b64url(crypto.getRandomValues(new Uint8Array(32)));
  sessionStorage.setItem("v", v);
  const c = b64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(v)));
  location.href = AS + "/connect/authorize?" + new URLSearchParams({client_id: CLIENT, response_type: "code", redirect_uri: REDIRECT,
    scope: "openid profile offline_access", code_challenge: c, code_challenge_method: "S256", state: "spa-state"});
}
async function json(what, r) { const b = await r.json(); if (!r.ok) throw new Error(what + " " + r.status + " " + JSON.stringify(b)); return b; }
async function callback() {
  try {
    const p = new URLSearchParams(location.search);
    if (p.get("state") !== "spa-state" || !p.get("code")) throw new Error("callback " + location.search);
    const t1 = await json("code", await fetch(AS + "/connect/token", form({grant_type: "authorization_code", code: p.get("code"),
      redirect_uri: REDIRECT, client_id: CLIENT, code_verifier: sessionStorage.getItem("v")})));
    const t2 = await json("refresh", await fetch(AS + "/connect/token", form({grant_type: "refresh_token", refresh_token: t1.refresh_token, client_id: CLIENT})));
    const ui = await json("userinfo", await fetch(AS + "/connect/userinfo", {headers: {Authorization: "Bearer " + t2.access_token}}));
    const rv = await fetch(AS + "/connect/revocation", form({token: t2.refresh_token, token_type_hint: "refresh_token", client_id: CLIENT}));
    if (!rv.ok) throw new Error("revocation " + rv.status);
    const after = await fetch(AS + "/connect/token", form({grant_type: "refresh_token", refresh_token: t2.refresh_token, client_id: CLIENT}));
    const ab = await after.json();
    if (after.ok || ab.error !== "invalid_grant") throw new Error("revoked refresh token still works: " + JSON.stringify(ab));
    show("ok sub=" + ui.sub + " id_token=" + (t1.id_token ? "yes" : "no"));
  } catch (e) { show("error " + e.name + ": " + e.message); }
}
location.pathname === "/callback" ? callback() : start();
</script>`

func TestBrowserSPAWithCORS(t *testing.T) {
	each(t, func(t *testing.T, backend string) {
		s, _, _ := startConformance(t, backend)
		var asURL string
		page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write([]byte(strings.Replace(spaPage, "__AS__", asURL, 1)))
		})
		asURL = s.URL
		good, bad := httptest.NewServer(page), httptest.NewServer(page)
		t.Cleanup(good.Close)
		t.Cleanup(bad.Close)
		s.Client("spa", []string{"authorization_code", "refresh_token"}, []string{"openid", "profile", "offline_access"}, func(c *storage.Client) {
			c.Public, c.SecretHash, c.RequirePKCE, c.SkipConsent = true, nil, true, true
			c.RedirectURIs = storage.StringList{good.URL + "/callback", bad.URL + "/callback"}
			c.AllowedCORSOrigins = storage.StringList{good.URL} // httptest URLs are origins: http://127.0.0.1:port
		})
		ctx := browser(t)
		var result string
		err := chromedp.Run(ctx,
			chromedp.Navigate(good.URL+"/"),
			signIn("alice", "wonderland-2026"),
			chromedp.WaitVisible("#result", chromedp.ByQuery),
			chromedp.Text("#result", &result, chromedp.ByQuery),
		)
		if err != nil || !strings.HasPrefix(result, "ok sub=") || !strings.HasSuffix(result, "id_token=yes") {
			t.Fatalf("allowed origin: %v %q", err, result)
		}
		t.Logf("page at an allowed origin: %s", result)
		// The same page from an origin no client allows: the browser refuses it the answers
		// (signed in already, the authorize request comes straight back with a code).
		err = chromedp.Run(ctx,
			chromedp.Navigate(bad.URL+"/"),
			chromedp.WaitVisible("#result", chromedp.ByQuery),
			chromedp.Text("#result", &result, chromedp.ByQuery),
		)
		if err != nil || !strings.HasPrefix(result, "error TypeError") {
			t.Fatalf("other origin: %v %q", err, result)
		}
		t.Logf("page at another origin: %s", result)
	})
}
