package adminapi

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/lingpai/lingpai/internal/manage"
)

func (a *API) userRoutes(route func(method, path, scope string, h http.HandlerFunc)) {
	read, write := manage.ScopeAdminRead, manage.ScopeAdmin
	route(http.MethodGet, "/users", read, a.listUsers)
	route(http.MethodPost, "/users", write, a.createUser)
	route(http.MethodGet, "/users/{sub}", read, a.getUser)
	route(http.MethodPatch, "/users/{sub}", write, a.patchUser)
	route(http.MethodDelete, "/users/{sub}", write, a.deleteUser)
	route(http.MethodPost, "/users/{sub}/disable", write, a.disable(true))
	route(http.MethodPost, "/users/{sub}/enable", write, a.disable(false))
	route(http.MethodPut, "/users/{sub}/password", write, a.setPassword)
	route(http.MethodPost, "/users/{sub}/unlock", write, a.unlock)
	route(http.MethodGet, "/users/{sub}/sessions", read, a.sessions)
	route(http.MethodDelete, "/users/{sub}/sessions", write, a.endSessions)
	route(http.MethodDelete, "/users/{sub}/sessions/{sid}", write, a.endSession)
	route(http.MethodGet, "/users/{sub}/consents", read, a.consents)
	route(http.MethodDelete, "/users/{sub}/consents/{client_id}", write, a.revokeConsent)
	route(http.MethodDelete, "/users/{sub}/tokens", write, a.revokeUserTokens)
	route(http.MethodGet, "/users/{sub}/identities", read, a.identities)
	route(http.MethodDelete, "/clients/{id}/tokens", write, a.revokeClientTokens)
}

func (a *API) listUsers(w http.ResponseWriter, r *http.Request) {
	n, err := limit(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	page, err := a.Manage.ListUsers(r.Context(), manage.UserQuery{Username: q.Get("username"), Email: q.Get("email"),
		Phone: q.Get("phone_number"), Sub: q.Get("sub")}, q.Get("cursor"), n)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

func (a *API) createUser(w http.ResponseWriter, r *http.Request) {
	var in manage.NewUserInput
	if err := decode(r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	v, err := a.Manage.CreateUser(r.Context(), in)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.audit(r, "admin.user.created", "subject", v.Sub)
	w.Header().Set("Location", "/admin/users/"+v.Sub)
	writeJSON(w, http.StatusCreated, v)
}

func (a *API) getUser(w http.ResponseWriter, r *http.Request) {
	v, err := a.Manage.User(r.Context(), mux.Vars(r)["sub"])
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (a *API) patchUser(w http.ResponseWriter, r *http.Request) {
	var in manage.UserFields
	if err := decode(r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	v, err := a.Manage.UpdateUser(r.Context(), mux.Vars(r)["sub"], in)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.audit(r, "admin.user.updated", "subject", v.Sub)
	writeJSON(w, http.StatusOK, v)
}

func (a *API) deleteUser(w http.ResponseWriter, r *http.Request) {
	sub := mux.Vars(r)["sub"]
	if err := a.Manage.DeleteUserSub(r.Context(), sub); err != nil {
		a.fail(w, r, err)
		return
	}
	a.audit(r, "admin.user.deleted", "subject", sub)
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) disable(disabled bool) http.HandlerFunc {
	event := "admin.user.enabled"
	if disabled {
		event = "admin.user.disabled"
	}
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := a.Manage.SetDisabled(r.Context(), mux.Vars(r)["sub"], disabled)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		a.audit(r, event, "subject", v.Sub)
		writeJSON(w, http.StatusOK, v)
	}
}

func (a *API) setPassword(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Password string `json:"password"`
	}
	if err := decode(r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	sub := mux.Vars(r)["sub"]
	if err := a.Manage.SetPassword(r.Context(), sub, in.Password); err != nil {
		a.fail(w, r, err)
		return
	}
	a.audit(r, "admin.user.password_set", "subject", sub)
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) unlock(w http.ResponseWriter, r *http.Request) {
	sub := mux.Vars(r)["sub"]
	was, err := a.Manage.UnlockSub(r.Context(), sub)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.audit(r, "admin.user.unlocked", "subject", sub, "was_locked", was)
	writeJSON(w, http.StatusOK, map[string]bool{"was_locked": was})
}

func (a *API) sessions(w http.ResponseWriter, r *http.Request) {
	list, err := a.Manage.Sessions(r.Context(), mux.Vars(r)["sub"])
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": list})
}

func (a *API) endSessions(w http.ResponseWriter, r *http.Request) {
	sub := mux.Vars(r)["sub"]
	if _, err := a.Manage.User(r.Context(), sub); err != nil {
		a.fail(w, r, err)
		return
	}
	if err := a.Manage.EndSessions(r.Context(), sub); err != nil {
		a.fail(w, r, err)
		return
	}
	a.audit(r, "admin.user.sessions_revoked", "subject", sub)
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) endSession(w http.ResponseWriter, r *http.Request) {
	v := mux.Vars(r)
	if err := a.Manage.EndSession(r.Context(), v["sub"], v["sid"]); err != nil {
		a.fail(w, r, err)
		return
	}
	a.audit(r, "admin.user.session_revoked", "subject", v["sub"], "sid", v["sid"])
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) consents(w http.ResponseWriter, r *http.Request) {
	list, err := a.Manage.Consents(r.Context(), mux.Vars(r)["sub"])
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": list})
}

func (a *API) revokeConsent(w http.ResponseWriter, r *http.Request) {
	v := mux.Vars(r)
	if err := a.Manage.RevokeConsent(r.Context(), v["sub"], v["client_id"]); err != nil {
		a.fail(w, r, err)
		return
	}
	a.audit(r, "admin.user.consent_revoked", "subject", v["sub"], "client_id", v["client_id"])
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) identities(w http.ResponseWriter, r *http.Request) {
	list, err := a.Manage.Identities(r.Context(), mux.Vars(r)["sub"])
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": list})
}

func (a *API) revokeUserTokens(w http.ResponseWriter, r *http.Request) {
	sub := mux.Vars(r)["sub"]
	if _, err := a.Manage.User(r.Context(), sub); err != nil {
		a.fail(w, r, err)
		return
	}
	n, err := a.Manage.RevokeTokens(r.Context(), sub, r.URL.Query().Get("client_id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.audit(r, "admin.tokens.revoked", "subject", sub, "revoked", n)
	writeJSON(w, http.StatusOK, map[string]int64{"revoked": n})
}

func (a *API) revokeClientTokens(w http.ResponseWriter, r *http.Request) {
	id := mux.Vars(r)["id"]
	if _, err := a.Manage.Client(r.Context(), id); err != nil {
		a.fail(w, r, err)
		return
	}
	n, err := a.Manage.RevokeTokens(r.Context(), "", id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.audit(r, "admin.tokens.revoked", "client_id", id, "revoked", n)
	writeJSON(w, http.StatusOK, map[string]int64{"revoked": n})
}
