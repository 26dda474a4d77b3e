package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/lingpai/lingpai/grants"
	"github.com/lingpai/lingpai/internal/reqctx"
	"github.com/lingpai/lingpai/internal/session"
	"github.com/lingpai/lingpai/internal/web/pages"
	"github.com/lingpai/lingpai/internal/web/websession"
	"github.com/lingpai/lingpai/storage"
)

// WebStore is what the browser endpoints read and write.
type WebStore interface {
	Client(ctx context.Context, id string) (*storage.Client, error)
	UserByID(ctx context.Context, id string) (*storage.User, error)
	ConsentOf(ctx context.Context, userID, clientID string) ([]string, error)
	SaveConsent(ctx context.Context, userID, clientID string, scopes []string) error
}

// Web serves the browser side of OpenID Connect: /connect/authorize, the sign-in and consent pages,
// /connect/userinfo and /connect/endsession.
type Web struct {
	Provider fosite.OAuth2Provider
	Store    WebStore
	// Authenticate checks a local username and password (throttled); a fosite.ErrNotFound-wrapped
	// error means bad credentials, anything else that the service is unavailable.
	Authenticate func(ctx context.Context, username, password string) (string, error)
	// Claims returns a user's claims (the account's and its linked identities').
	Claims   func(ctx context.Context, subject string) (map[string]any, error)
	Sessions *websession.Manager
	Pages    *pages.Renderer
	Logger   *slog.Logger
	// VerifyIDToken checks an id_token_hint's signature (not its expiry) and returns its claims.
	VerifyIDToken func(ctx context.Context, token string) ([]byte, error)
	Now           func() time.Time
}

const authorizePath = "/connect/authorize"

// Authorize serves GET and POST /connect/authorize (RFC 6749 4.1, OIDC Core 3.1.2).
func (h *Web) Authorize(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ar, err := h.Provider.NewAuthorizeRequest(ctx, r)
	if err != nil {
		h.authorizeError(w, r, ar, err)
		return
	}
	if !exactRedirectURI(ar) {
		// fosite let it through as a loopback URI on another port (RFC 8252 7.3); we do not.
		h.authorizeError(w, r, ar, fosite.ErrInvalidRequest.WithHint("The 'redirect_uri' parameter does not exactly match a pre-registered redirect URI."))
		return
	}
	form := ar.GetRequestForm()
	client, ok := ar.GetClient().(*storage.Client)
	if !ok {
		h.authorizeError(w, r, ar, fosite.ErrServerError.WithDebug("client type"))
		return
	}
	reqctx.From(ctx).Add(slog.String("client_id", client.ID))
	if client.RequirePKCE && form.Get("code_challenge") == "" {
		h.authorizeError(w, r, ar, fosite.ErrInvalidRequest.WithHint("This client must use PKCE (code_challenge with S256)."))
		return
	}
	if form.Get("lp_consent") == "denied" {
		h.authorizeError(w, r, ar, fosite.ErrAccessDenied.WithHint("The user denied the request."))
		return
	}
	if len(ar.GetRequestedScopes()) == 0 {
		ar.SetRequestedScopes(client.GetScopes()) // as at the token endpoint: omitted means all allowed
	}
	prompt := strings.Fields(form.Get("prompt"))
	ls, err := h.Sessions.Current(r)
	if err != nil {
		h.authorizeError(w, r, ar, fosite.ErrTemporarilyUnavailable.WithWrap(err))
		return
	}
	var user *storage.User
	if ls != nil {
		if user, err = h.Store.UserByID(ctx, ls.UserID); err != nil || user.Disabled {
			_ = h.Sessions.End(w, r)
			ls, user = nil, nil
		}
	}
	if ls == nil || slices.Contains(prompt, "login") || maxAgeExceeded(form.Get("max_age"), ls.AuthTime, ar.GetRequestedAt()) {
		if slices.Contains(prompt, "none") {
			h.authorizeError(w, r, ar, fosite.ErrLoginRequired.WithHint("The user is not signed in."))
			return
		}
		http.Redirect(w, r, "/account/login?return_to="+url.QueryEscape(returnTo(r, form, "login")), http.StatusFound)
		return
	}
	requested := ar.GetRequestedScopes()
	if !client.SkipConsent {
		granted, err := h.Store.ConsentOf(ctx, user.ID, client.ID)
		if err != nil {
			h.authorizeError(w, r, ar, fosite.ErrTemporarilyUnavailable.WithWrap(err))
			return
		}
		if slices.Contains(prompt, "consent") || !containsAll(granted, requested) {
			if slices.Contains(prompt, "none") {
				h.authorizeError(w, r, ar, fosite.ErrConsentRequired.WithHint("The user has not consented."))
				return
			}
			http.Redirect(w, r, "/account/consent?return_to="+url.QueryEscape(returnTo(r, form, "consent")), http.StatusFound)
			return
		}
	}
	for _, s := range requested {
		ar.GrantScope(s)
	}
	aud := ar.GetRequestedAudience()
	if len(aud) == 0 {
		aud = client.GetAudience()
	}
	for _, a := range aud {
		ar.GrantAudience(a)
	}
	claims, err := h.Claims(ctx, user.ID)
	if err != nil {
		h.authorizeError(w, r, ar, fosite.ErrTemporarilyUnavailable.WithWrap(err))
		return
	}
	sess := session.New()
	grants.ApplyIdentity(sess, "authorization_code", grants.Identity{
		Subject: user.ID, Claims: ClaimsForScopes(claims, ar.GetGrantedScopes()), AMR: strings.Fields(ls.AMR),
	})
	sess.IDTokenClaims().AuthTime = ls.AuthTime.UTC()
	// fosite checks prompt=none/login and max_age by comparing auth_time with this; maxAgeExceeded
	// above decided with the same two times.
	sess.IDTokenClaims().RequestedAt = ar.GetRequestedAt().UTC()
	sess.IDTokenClaims().Extra["sid"] = ls.SID
	sess.JWTClaims.Extra["client_id"] = client.ID
	resp, err := h.Provider.NewAuthorizeResponse(ctx, ar, sess)
	if err != nil {
		h.authorizeError(w, r, ar, err)
		return
	}
	reqctx.From(ctx).Add(slog.String("outcome", "code_issued"), slog.String("subject", user.ID))
	formPostHeaders(w, ar)
	h.Provider.WriteAuthorizeResponse(ctx, w, ar, resp)
}

// authorizeError sends the error back to the client when the redirect URI is proven, and shows an
// error page otherwise: an unknown client or unregistered redirect URI is never redirected to.
func (h *Web) authorizeError(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, err error) {
	rfc := fosite.ErrorToRFC6749Error(err)
	reqctx.From(r.Context()).Add(slog.String("outcome", rfc.ErrorField), slog.String("reason", rfc.GetDescription()))
	if !exactRedirectURI(ar) {
		lang := pages.Lang(r.FormValue("ui_locales"), r)
		h.Pages.Render(w, http.StatusBadRequest, "error", pages.Page{Lang: lang, Title: pagesText(lang, "error.title"), Error: "error.client"})
		return
	}
	formPostHeaders(w, ar)
	h.Provider.WriteAuthorizeError(r.Context(), w, ar, err)
}

// exactRedirectURI reports whether ar's redirect URI is proven: the redirect_uri sent is, as a
// string, one of the client's registered URIs, or none was sent and the client has exactly one
// (fosite then uses it). fosite alone also accepts a registered http loopback URI on any other port
// (isMatchingAsLoopback, RFC 8252 7.3); lingpai's clients register the port too, so that would
// hand the code to whatever else listens on the user's machine.
func exactRedirectURI(ar fosite.AuthorizeRequester) bool {
	if ar == nil || ar.GetClient() == nil || !ar.IsRedirectURIValid() {
		return false
	}
	registered := ar.GetClient().GetRedirectURIs()
	raw := ar.GetRequestForm().Get("redirect_uri")
	if raw == "" {
		return len(registered) == 1
	}
	return slices.Contains(registered, raw)
}

// formPostHeaders protects fosite's response_mode=form_post page (pages.FormPost): only its own
// submit script runs, it is never framed, and it sends no Referer with the authorize URL.
// fosite sets the Content-Type and Cache-Control itself.
func formPostHeaders(w http.ResponseWriter, ar fosite.AuthorizeRequester) {
	if ar.GetResponseMode() != fosite.ResponseModeFormPost {
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", pages.FormPostCSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
}

func pagesText(lang, key string) string {
	if lang == "en" {
		return map[string]string{"error.title": "Error", "signin.title": "Sign in", "signedin.title": "Signed in", "consent.title": "Authorize", "signedout.title": "Signed out"}[key]
	}
	return map[string]string{"error.title": "出错了", "signin.title": "登录", "signedin.title": "已登录", "consent.title": "授权", "signedout.title": "已退出"}[key]
}

// returnTo rebuilds the authorize request to come back to after a page, without the prompt value
// that page satisfies (or the user would be asked again forever). A sign-in also satisfies
// max_age=0, which otherwise no session could ever meet.
func returnTo(r *http.Request, form url.Values, satisfied string) string {
	q := url.Values{}
	for k, v := range form {
		if k == "lp_consent" {
			continue
		}
		q[k] = append([]string(nil), v...)
	}
	if satisfied == "login" && q.Get("max_age") == "0" {
		q.Del("max_age")
	}
	if p := strings.Fields(q.Get("prompt")); len(p) > 0 {
		p = slices.DeleteFunc(p, func(s string) bool { return s == satisfied })
		if len(p) == 0 {
			q.Del("prompt")
		} else {
			q.Set("prompt", strings.Join(p, " "))
		}
	}
	return authorizePath + "?" + q.Encode()
}

// maxAgeExceeded decides max_age exactly as fosite's OpenID Connect handler will afterwards
// (openid.OpenIDConnectRequestValidator.ValidatePrompt, and DefaultStrategy.GenerateIDToken at the
// token endpoint): the session is too old when auth_time + max_age is before the request's
// requested_at, the same two times the session hands fosite. Any other rule leaves a gap in which
// fosite sends the client login_required where the user should simply have been asked to sign in
// again. fosite ignores max_age=0; lingpai asks for a fresh sign-in, as for prompt=login (returnTo
// then drops it).
func maxAgeExceeded(raw string, authTime, requestedAt time.Time) bool {
	if raw == "" {
		return false
	}
	maxAge, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || maxAge < 0 || maxAge > math.MaxInt64/int64(time.Second) {
		return false
	}
	if maxAge == 0 {
		return true
	}
	return authTime.Add(time.Second * time.Duration(maxAge)).Before(requestedAt)
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// ClaimsForScopes keeps the claims the granted scopes allow (OIDC Core 5.4).
func ClaimsForScopes(claims map[string]any, scopes fosite.Arguments) map[string]any {
	allowed := map[string][]string{
		"profile": {"preferred_username", "name", "groups"},
		"email":   {"email", "email_verified"},
		"phone":   {"phone_number", "phone_number_verified"},
	}
	out := map[string]any{}
	for scope, names := range allowed {
		if !scopes.Has(scope) {
			continue
		}
		for _, n := range names {
			if v, ok := claims[n]; ok {
				out[n] = v
			}
		}
	}
	return out
}

// parseReturn accepts only a path to our own authorize endpoint, so return_to can never send a
// browser elsewhere (no open redirect).
func parseReturn(raw string) (url.Values, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "" || u.Host != "" || u.Path != authorizePath || strings.HasPrefix(raw, "//") {
		return nil, false
	}
	return u.Query(), true
}

// returnTarget reads the consent page's return_to (the authorize request to resume); a missing or
// foreign one gets the error page.
func (h *Web) returnTarget(w http.ResponseWriter, r *http.Request) (string, url.Values, bool) {
	if err := r.ParseForm(); err != nil {
		h.badPage(w, r)
		return "", nil, false
	}
	raw := r.Form.Get("return_to")
	q, ok := parseReturn(raw)
	if !ok {
		h.badPage(w, r)
		return "", nil, false
	}
	return raw, q, true
}

// Login serves GET and POST /account/login. With a return_to naming our authorize endpoint it
// signs the user in for that request and resumes it. Without one (or with any other), it is a plain
// sign-in page: it ignores return_to and, once signed in, says so on a page of its own; it never
// redirects anywhere the request names.
func (h *Web) Login(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := r.ParseForm(); err != nil {
		h.badPage(w, r)
		return
	}
	raw := r.Form.Get("return_to")
	q, resume := parseReturn(raw)
	var data loginData
	var lang string
	if resume {
		lang = pages.Lang(q.Get("ui_locales"), r)
		data = loginData{ReturnTo: raw, ClientName: h.clientName(ctx, q.Get("client_id")), Username: q.Get("login_hint")}
	} else {
		lang = pages.Lang(r.Form.Get("ui_locales"), r)
		data = loginData{UILocales: r.Form.Get("ui_locales")}
		if data.UILocales != "" {
			data.UILocales = lang // only ever our own value back into the page
		}
	}
	render := func(status int, msg string) {
		csrf, err := h.Sessions.CSRFToken(w, r, "login")
		if err != nil {
			h.badPage(w, r)
			return
		}
		data.CSRF = csrf
		h.Pages.Render(w, status, "login", pages.Page{Lang: lang, Title: pagesText(lang, "signin.title"), Error: msg, Data: data,
			SwitchURL: switchURL(r, lang)})
	}
	if r.Method != http.MethodPost {
		render(http.StatusOK, "")
		return
	}
	if !h.Sessions.CheckCSRF(r, "login") {
		reqctx.From(ctx).Add(slog.String("outcome", "csrf_rejected"))
		render(http.StatusForbidden, "signin.csrf")
		return
	}
	data.Username = r.PostForm.Get("username")
	sub, err := h.Authenticate(ctx, data.Username, r.PostForm.Get("password"))
	if errors.Is(err, fosite.ErrNotFound) {
		reqctx.From(ctx).Add(slog.String("outcome", "bad_credentials"))
		render(http.StatusUnauthorized, "signin.bad")
		return
	}
	if err != nil {
		h.Logger.ErrorContext(ctx, "sign-in page: authentication failed", "error", err)
		render(http.StatusServiceUnavailable, "signin.unavailable")
		return
	}
	if _, err := h.Sessions.Start(w, r, sub, "pwd"); err != nil {
		h.Logger.ErrorContext(ctx, "sign-in page: session", "error", err)
		render(http.StatusServiceUnavailable, "signin.unavailable")
		return
	}
	reqctx.From(ctx).Add(slog.String("outcome", "signed_in"), slog.String("subject", sub))
	if resume {
		http.Redirect(w, r, raw, http.StatusSeeOther)
		return
	}
	name := ""
	if u, err := h.Store.UserByID(ctx, sub); err == nil {
		name = displayName(u)
	}
	h.Pages.Render(w, http.StatusOK, "signedin", pages.Page{Lang: lang, Title: pagesText(lang, "signedin.title"), Data: name})
}

type loginData struct {
	CSRF, ReturnTo, ClientName, Username string
	UILocales                            string // the plain page's language, kept across its POST
}

type consentData struct {
	CSRF, ReturnTo, ClientName, User string
	Scopes                           []string
}

// Consent serves GET and POST /account/consent.
func (h *Web) Consent(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	raw, q, ok := h.returnTarget(w, r)
	if !ok {
		return
	}
	ls, err := h.Sessions.Current(r)
	if err != nil || ls == nil {
		http.Redirect(w, r, "/account/login?return_to="+url.QueryEscape(raw), http.StatusFound)
		return
	}
	client, err := h.Store.Client(ctx, q.Get("client_id"))
	if err != nil {
		h.badPage(w, r)
		return
	}
	scopes := strings.Fields(q.Get("scope"))
	if len(scopes) == 0 {
		scopes = client.Scopes
	}
	lang := pages.Lang(q.Get("ui_locales"), r)
	if r.Method == http.MethodPost {
		if !h.Sessions.CheckCSRF(r, "consent") {
			reqctx.From(ctx).Add(slog.String("outcome", "csrf_rejected"))
			h.Pages.Render(w, http.StatusForbidden, "error", pages.Page{Lang: lang, Title: pagesText(lang, "error.title"), Error: "signin.csrf"})
			return
		}
		if r.PostForm.Get("decision") != "allow" {
			reqctx.From(ctx).Add(slog.String("outcome", "consent_denied"))
			http.Redirect(w, r, raw+"&lp_consent=denied", http.StatusSeeOther)
			return
		}
		if err := h.Store.SaveConsent(ctx, ls.UserID, client.ID, scopes); err != nil {
			h.Logger.ErrorContext(ctx, "consent: save", "error", err)
			h.badPage(w, r)
			return
		}
		reqctx.From(ctx).Add(slog.String("outcome", "consent_granted"))
		http.Redirect(w, r, raw, http.StatusSeeOther)
		return
	}
	csrf, err := h.Sessions.CSRFToken(w, r, "consent")
	if err != nil {
		h.badPage(w, r)
		return
	}
	user, err := h.Store.UserByID(ctx, ls.UserID)
	if err != nil {
		h.badPage(w, r)
		return
	}
	data := consentData{CSRF: csrf, ReturnTo: raw, ClientName: client.Name, User: displayName(user)}
	for _, s := range scopes {
		data.Scopes = append(data.Scopes, pages.ScopeText(lang, s))
	}
	h.Pages.Render(w, http.StatusOK, "consent", pages.Page{Lang: lang, Title: pagesText(lang, "consent.title"), Data: data, SwitchURL: switchURL(r, lang)})
}

func displayName(u *storage.User) string {
	switch {
	case u.Name != "":
		return u.Name
	case u.Username != nil:
		return *u.Username
	case u.Phone != nil:
		return *u.Phone
	}
	return u.ID
}

func (h *Web) clientName(ctx context.Context, id string) string {
	if c, err := h.Store.Client(ctx, id); err == nil && c.Name != "" {
		return c.Name
	}
	return id
}

// switchURL is this page in the other language (via ui_locales inside return_to).
// switchURL is this page in the other language: inside return_to when the page resumes an
// authorize request, as ui_locales on the plain sign-in page.
func switchURL(r *http.Request, lang string) string {
	other := "en"
	if lang == "en" {
		other = "zh-CN"
	}
	q, ok := parseReturn(r.Form.Get("return_to"))
	if !ok {
		return r.URL.Path + "?ui_locales=" + other
	}
	q.Set("ui_locales", other)
	return r.URL.Path + "?return_to=" + url.QueryEscape(authorizePath+"?"+q.Encode())
}

func (h *Web) badPage(w http.ResponseWriter, r *http.Request) {
	lang := pages.Lang("", r)
	h.Pages.Render(w, http.StatusBadRequest, "error", pages.Page{Lang: lang, Title: pagesText(lang, "error.title"), Error: "error.request"})
}

// UserInfo serves GET and POST /connect/userinfo (OIDC Core 5.3) for a Bearer access token.
func (h *Web) UserInfo(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	token := fosite.AccessTokenFromRequest(r)
	unauthorized := func(code string) {
		v := `Bearer realm="lingpai"`
		if code != "" {
			v += `, error="` + code + `"`
		}
		w.Header().Set("WWW-Authenticate", v)
		WriteJSON(w, http.StatusUnauthorized, map[string]string{"error": orDefault(code, "invalid_token")})
	}
	if token == "" {
		unauthorized("")
		return
	}
	use, ar, err := h.Provider.IntrospectToken(ctx, token, fosite.AccessToken, session.New())
	if err != nil || use != fosite.AccessToken {
		unauthorized("invalid_token")
		return
	}
	if !ar.GetGrantedScopes().Has("openid") {
		w.Header().Set("WWW-Authenticate", `Bearer realm="lingpai", error="insufficient_scope", scope="openid"`)
		WriteJSON(w, http.StatusForbidden, map[string]string{"error": "insufficient_scope"})
		return
	}
	sub := ar.GetSession().GetSubject()
	user, err := h.Store.UserByID(ctx, sub)
	if err != nil || user.Disabled {
		unauthorized("invalid_token")
		return
	}
	all, err := h.Claims(ctx, sub)
	if err != nil {
		WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "temporarily_unavailable"})
		return
	}
	claims := ClaimsForScopes(all, ar.GetGrantedScopes())
	if sess, ok := ar.GetSession().(*session.Session); ok {
		// Claims the grant added (directory groups, say) count too, still filtered by scope.
		for k, v := range ClaimsForScopes(sess.IDTokenClaims().Extra, ar.GetGrantedScopes()) {
			if _, set := claims[k]; !set {
				claims[k] = v
			}
		}
	}
	claims["sub"] = sub
	WriteJSON(w, http.StatusOK, claims)
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// EndSession serves GET and POST /connect/endsession (OIDC RP-Initiated Logout 1.0).
func (h *Web) EndSession(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := r.ParseForm(); err != nil {
		h.badPage(w, r)
		return
	}
	lang := pages.Lang(r.Form.Get("ui_locales"), r)
	redirect := r.Form.Get("post_logout_redirect_uri")
	var target *url.URL
	if redirect != "" {
		var claims struct {
			Aud any `json:"aud"`
		}
		hint := r.Form.Get("id_token_hint")
		payload, err := h.VerifyIDToken(ctx, hint)
		if hint == "" || err != nil || json.Unmarshal(payload, &claims) != nil {
			h.Pages.Render(w, http.StatusBadRequest, "error", pages.Page{Lang: lang, Title: pagesText(lang, "error.title"), Error: "error.request"})
			return
		}
		clientID := ""
		switch a := claims.Aud.(type) {
		case string:
			clientID = a
		case []any:
			if len(a) > 0 {
				clientID, _ = a[0].(string)
			}
		}
		client, err := h.Store.Client(ctx, clientID)
		if err != nil || !slices.Contains(client.PostLogoutRedirectURIs, redirect) {
			h.Pages.Render(w, http.StatusBadRequest, "error", pages.Page{Lang: lang, Title: pagesText(lang, "error.title"), Error: "error.client"})
			return
		}
		if target, err = url.Parse(redirect); err != nil {
			h.badPage(w, r)
			return
		}
	}
	if err := h.Sessions.End(w, r); err != nil {
		h.Logger.ErrorContext(ctx, "end session", "error", err)
	}
	reqctx.From(ctx).Add(slog.String("outcome", "signed_out"))
	if target != nil {
		if state := r.Form.Get("state"); state != "" {
			q := target.Query()
			q.Set("state", state)
			target.RawQuery = q.Encode()
		}
		http.Redirect(w, r, target.String(), http.StatusFound)
		return
	}
	h.Pages.Render(w, http.StatusOK, "signedout", pages.Page{Lang: lang, Title: pagesText(lang, "signedout.title")})
}
