package adminapi

import (
	"errors"
	"net/http"

	"github.com/gorilla/mux"
	"github.com/ory/fosite"

	"github.com/lingpai/lingpai/internal/manage"
	"github.com/lingpai/lingpai/internal/session"
)

func (a *API) opsRoutes(route func(method, path, scope string, h http.HandlerFunc)) {
	read, write := manage.ScopeAdminRead, manage.ScopeAdmin
	route(http.MethodGet, "/keys", read, a.listKeys)
	route(http.MethodPost, "/keys/rotate", write, a.rotateKeys)
	route(http.MethodPost, "/keys/{kid}/retire", write, a.retireKey)
	route(http.MethodGet, "/throttle/locks", read, a.listLocks)
	route(http.MethodDelete, "/throttle/locks/{key}", write, a.clearLock)
	route(http.MethodPost, "/tokens/revoke", write, a.revokeToken)
}

func (a *API) listKeys(w http.ResponseWriter, r *http.Request) {
	list, err := a.Manage.Keys(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": list})
}

func (a *API) rotateKeys(w http.ResponseWriter, r *http.Request) {
	k, err := a.Manage.RotateKeys(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	// kid and algorithm only, never key material.
	a.audit(r, "admin.key.rotated", "kid", k.KID, "alg", k.Algorithm)
	writeJSON(w, http.StatusCreated, k)
}

func (a *API) retireKey(w http.ResponseWriter, r *http.Request) {
	kid := mux.Vars(r)["kid"]
	k, err := a.Manage.RetireKey(r.Context(), kid)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.audit(r, "admin.key.retired", "kid", kid, "new_kid", k.KID)
	writeJSON(w, http.StatusOK, k)
}

func (a *API) listLocks(w http.ResponseWriter, r *http.Request) {
	list, err := a.Manage.Locks(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": list})
}

func (a *API) clearLock(w http.ResponseWriter, r *http.Request) {
	key := mux.Vars(r)["key"]
	if err := a.Manage.ClearLock(r.Context(), key); err != nil {
		a.fail(w, r, err)
		return
	}
	a.audit(r, "admin.throttle.cleared", "key", key)
	w.WriteHeader(http.StatusNoContent)
}

// revokeToken revokes the grant an access or refresh token belongs to (every token of it). An
// unknown, expired or already revoked token is not an error (RFC 7009 section 2.2 semantics).
func (a *API) revokeToken(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Token string `json:"token"`
	}
	if err := decode(r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	if in.Token == "" {
		a.fail(w, r, &manage.Invalid{Field: "token", Detail: "required"})
		return
	}
	revoked := false
	for _, use := range []fosite.TokenUse{fosite.RefreshToken, fosite.AccessToken} {
		_, ar, err := a.Provider.IntrospectToken(r.Context(), in.Token, use, session.New())
		if err != nil {
			continue
		}
		if err := a.Manage.RevokeGrant(r.Context(), ar.GetID()); err != nil && !errors.Is(err, fosite.ErrNotFound) {
			a.fail(w, r, err)
			return
		}
		revoked = true
		a.audit(r, "admin.token.revoked", "grant_request_id", ar.GetID(), "client_id", ar.GetClient().GetID(), "subject", ar.GetSession().GetSubject())
		break
	}
	writeJSON(w, http.StatusOK, map[string]bool{"revoked": revoked})
}
