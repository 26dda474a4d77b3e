package handlers

import (
	"context"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/lingpai/lingpai/accounts"
	"github.com/lingpai/lingpai/grants"
	"github.com/lingpai/lingpai/internal/reqctx"
	"github.com/lingpai/lingpai/internal/web/pages"
	"github.com/lingpai/lingpai/internal/web/websession"
)

// WebStore is what the browser endpoints read and write besides accounts.
type WebStore interface {
	GetClient(ctx context.Context, id string) (fosite.Client, error)
	ConsentOf(ctx context.Context, userID, clientID string) ([]string, error)
	SaveConsent(ctx context.Context, userID, clientID string, scopes []string) error
}

// WebAccounts is what the browser endpoints need of accounts.
type WebAccounts interface {
	Profile(ctx context.Context, subject string) (accounts.Profile, error)
	// Claims returns a user's claims (the account's and its linked identities').
	Claims(ctx context.Context, subject string) (map[string]any, error)
}

// Web serves the browser side of OpenID Connect: /connect/authorize (authorize.go), the sign-in
// and consent pages (login.go, consent.go), /connect/userinfo (userinfo.go) and
// /connect/endsession (endsession.go). This file holds what they share.
type Web struct {
	Provider fosite.OAuth2Provider
	Store    WebStore
	Accounts WebAccounts
	// ScopeClaims are the claims each scope releases (standard when nil).
	ScopeClaims *grants.ScopeClaims
	// Authenticate checks a local username and password (throttled); a fosite.ErrNotFound-wrapped
	// error means bad credentials, anything else that the service is unavailable.
	Authenticate func(ctx context.Context, username, password string) (string, error)
	Sessions     *websession.Manager
	Pages        *pages.Renderer
	Logger       *slog.Logger
	// VerifyIDToken checks an id_token_hint's signature (not its expiry) and returns its claims.
	VerifyIDToken func(ctx context.Context, token string) ([]byte, error)
	Now           func() time.Time
	// Issuer is sent as iss with every authorization response (RFC 9207).
	Issuer string
	// CrossOrigin refuses cross-origin form posts (Go's http.CrossOriginProtection), on top of
	// the CSRF tokens; nil checks nothing.
	CrossOrigin interface{ Check(*http.Request) error }
	// Unavailable and Healthy classify failures as for Token: a storage or upstream failure is a
	// 503 (a page, or temporarily_unavailable to a proven redirect URI), never "bad request".
	Unavailable func(error) bool
	Healthy     func(ctx context.Context) error
}

// formForged reports a form post that is cross-origin or lacks this browser's CSRF token for
// purpose.
func (h *Web) formForged(r *http.Request, purpose string) bool {
	if h.CrossOrigin != nil && h.CrossOrigin.Check(r) != nil {
		return true
	}
	return !h.Sessions.CheckCSRF(r, purpose)
}

// down reports whether err is a storage or upstream failure (see classify).
func (h *Web) down(ctx context.Context, err error) bool {
	return err != nil && isUnavailable(classify(ctx, err, h.Unavailable, h.Healthy))
}

// unavailablePage is the browser's 503: the error page, with Retry-After.
func (h *Web) unavailablePage(w http.ResponseWriter, r *http.Request) {
	lang := pages.Lang(r.FormValue("ui_locales"), r)
	reqctx.From(r.Context()).Add(slog.String("outcome", "temporarily_unavailable"))
	w.Header().Set("Retry-After", "1")
	h.Pages.Render(w, http.StatusServiceUnavailable, "error", pages.Page{Lang: lang, Title: pagesText(lang, "error.title"), Error: "signin.unavailable"})
}

const authorizePath = "/connect/authorize"

// client looks a client up with lingpai's policy fields.
func (h *Web) client(ctx context.Context, id string) (grants.ClientPolicy, error) {
	c, err := h.Store.GetClient(ctx, id)
	if err != nil {
		return nil, err
	}
	p, ok := c.(grants.ClientPolicy)
	if !ok {
		return nil, fosite.ErrServerError.WithDebugf("client type %T", c)
	}
	return p, nil
}

func (h *Web) clientName(ctx context.Context, id string) string {
	if c, err := h.client(ctx, id); err == nil {
		return c.GetName()
	}
	return id
}

func (h *Web) displayName(ctx context.Context, subject string) string {
	if p, err := h.Accounts.Profile(ctx, subject); err == nil {
		return p.DisplayName
	}
	return subject
}

// authorizeError sends the error back to the client when the redirect URI is proven, and shows an
// error page otherwise: an unknown client or unregistered redirect URI is never redirected to.
func (h *Web) authorizeError(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, err error) {
	err = classify(r.Context(), err, h.Unavailable, h.Healthy)
	if isUnavailable(err) && !exactRedirectURI(ar) {
		h.Logger.ErrorContext(r.Context(), "authorize: unavailable", "error", err)
		h.unavailablePage(w, r)
		return
	}
	rfc := fosite.ErrorToRFC6749Error(err)
	reqctx.From(r.Context()).Add(slog.String("outcome", rfc.ErrorField), slog.String("reason", rfc.GetDescription()))
	if !exactRedirectURI(ar) {
		lang := pages.Lang(r.FormValue("ui_locales"), r)
		h.Pages.Render(w, http.StatusBadRequest, "error", pages.Page{Lang: lang, Title: pagesText(lang, "error.title"), Error: "error.client"})
		return
	}
	formPostHeaders(w, ar)
	h.writeAuthorizeError(w, ar, rfc)
}

// writeAuthorizeError redirects an error to the client (RFC 6749 4.1.2.1). Unlike fosite's writer,
// it sends state only when the client sent one (never an empty state=) and adds iss (RFC 9207).
func (h *Web) writeAuthorizeError(w http.ResponseWriter, ar fosite.AuthorizeRequester, rfc *fosite.RFC6749Error) {
	params := url.Values{"error": {rfc.ErrorField}}
	if d := rfc.GetDescription(); d != "" {
		params.Set("error_description", d)
	}
	if s := ar.GetState(); s != "" {
		params.Set("state", s)
	}
	params.Set("iss", h.Issuer)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	redirect := *ar.GetRedirectURI()
	redirect.Fragment = ""
	if ar.GetResponseMode() == fosite.ResponseModeFormPost {
		w.Header().Set("Content-Type", "text/html;charset=UTF-8")
		fosite.WriteAuthorizeFormPostResponse(redirect.String(), params, h.Pages.FormPost(), w)
		return
	}
	q := redirect.Query()
	for k, v := range params {
		q[k] = v
	}
	redirect.RawQuery = q.Encode()
	w.Header().Set("Location", redirect.String())
	w.WriteHeader(http.StatusSeeOther)
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
