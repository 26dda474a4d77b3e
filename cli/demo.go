package cli

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strings"
)

// demoVerifier is the PKCE verifier of README's browser walk-through. A real client makes a new
// random one per sign-in; the demo fixes it so the three commands can be pasted.
const demoVerifier = "lingpai-demo-verifier-0123456789-abcdefghijklmnop"

func demoChallenge() string {
	sum := sha256.Sum256([]byte(demoVerifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// demoAuthorizeURL is the sign-in link printed by serve --demo.
func demoAuthorizeURL(issuer string) string {
	q := url.Values{"client_id": {"demo-web"}, "response_type": {"code"}, "scope": {"openid profile email offline_access"},
		"redirect_uri": {issuer + "/demo/callback"}, "state": {"demo-state-1"}, "nonce": {"demo-nonce-1"},
		"code_challenge": {demoChallenge()}, "code_challenge_method": {"S256"}}
	return issuer + "/connect/authorize?" + q.Encode()
}

// demoCallback is the demo web client's redirect page: it shows the code and the command that
// exchanges it.
func demoCallback(issuer string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if e := r.Form.Get("error"); e != "" {
			fmt.Fprintf(w, "<!doctype html><html lang=en><title>lingpai demo</title><h1>error: %s</h1><p>%s</p>",
				html.EscapeString(e), html.EscapeString(r.Form.Get("error_description")))
			return
		}
		cmd := strings.Join([]string{"curl -s", "-d grant_type=authorization_code", "-d client_id=demo-web",
			"-d code=" + r.Form.Get("code"), "-d redirect_uri=" + issuer + "/demo/callback",
			"-d code_verifier=" + demoVerifier, issuer + "/connect/token"}, " ")
		fmt.Fprintf(w, `<!doctype html><html lang=en><meta charset=utf-8><title>lingpai demo callback</title>
<body style="font:16px/1.5 sans-serif;max-width:760px;margin:40px auto">
<h1>Signed in: here is your authorization code</h1><p>state = %s</p>
<p>Exchange it within 5 minutes (codes are single use):</p>
<pre id="cmd" style="white-space:pre-wrap;background:#f4f5f7;padding:12px;border-radius:8px">%s</pre></body></html>`,
			html.EscapeString(r.Form.Get("state")), html.EscapeString(cmd))
	})
}
