package handlers

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/ory/fosite"

	"github.com/lingpai/lingpai/internal/reqctx"
	"github.com/lingpai/lingpai/internal/web/pages"
)

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
		if status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "1")
		}
		h.Pages.Render(w, status, "login", pages.Page{Lang: lang, Title: pagesText(lang, "signin.title"), Error: msg, Data: data,
			SwitchURL: switchURL(r, lang)})
	}
	if r.Method != http.MethodPost {
		render(http.StatusOK, "")
		return
	}
	if h.formForged(r, "login") {
		reqctx.From(ctx).Add(slog.String("outcome", "csrf_rejected"))
		render(http.StatusForbidden, "signin.csrf")
		return
	}
	if checkLengths(r.PostForm) != nil {
		// The one sign-in failure message: a length says nothing about whether the account exists.
		reqctx.From(ctx).Add(slog.String("outcome", "invalid_request"))
		render(http.StatusBadRequest, "signin.bad")
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
	h.Pages.Render(w, http.StatusOK, "signedin", pages.Page{Lang: lang, Title: pagesText(lang, "signedin.title"), Data: h.displayName(ctx, sub)})
}

type loginData struct {
	CSRF, ReturnTo, ClientName, Username string
	UILocales                            string // the plain page's language, kept across its POST
}
