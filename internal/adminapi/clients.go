package adminapi

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/lingpai/lingpai/internal/manage"
)

func (a *API) listClients(w http.ResponseWriter, r *http.Request) {
	n, err := limit(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	page, err := a.Manage.ListClients(r.Context(), q.Get("id_prefix"), q.Get("cursor"), n)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

// createdClient is the answer to a create: the client, and its secret when lingpai generated it
// (the only time it is shown).
type createdClient struct {
	*manage.ClientView
	ClientSecret string `json:"client_secret,omitempty"`
}

func (a *API) createClient(w http.ResponseWriter, r *http.Request) {
	var in manage.NewClient
	if err := decode(r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	v, generated, err := a.Manage.CreateClient(r.Context(), in)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.audit(r, "admin.client.created", "client_id", v.ID, "secret_generated", generated != "")
	w.Header().Set("ETag", v.ETag())
	w.Header().Set("Location", "/admin/clients/"+v.ID)
	writeJSON(w, http.StatusCreated, createdClient{v, generated})
}

func (a *API) getClient(w http.ResponseWriter, r *http.Request) {
	v, err := a.Manage.Client(r.Context(), mux.Vars(r)["id"])
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("ETag", v.ETag())
	writeJSON(w, http.StatusOK, v)
}

// putClient replaces every settable field; If-Match is required so that a read-modify-write
// cannot silently undo someone else's change (RFC 9110 section 13.1.1).
func (a *API) putClient(w http.ResponseWriter, r *http.Request) {
	ifMatch := r.Header.Get("If-Match")
	if ifMatch == "" {
		writeProblem(w, r, http.StatusPreconditionRequired, "PUT needs If-Match with the ETag from a GET.", "If-Match")
		return
	}
	var in manage.ClientFields
	if err := decode(r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	a.update(w, r, ifMatch, func(f *manage.ClientFields) error { *f = in; return nil })
}

// patchClient changes only the fields the body names (JSON merge patch of the settable fields).
func (a *API) patchClient(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ct := r.Header.Get("Content-Type")
	// The edit runs inside the transaction (and again if it is retried), on the current fields.
	a.update(w, r, r.Header.Get("If-Match"), func(f *manage.ClientFields) error { return decodeBytes(ct, body, f) })
}

func (a *API) update(w http.ResponseWriter, r *http.Request, ifMatch string, edit func(*manage.ClientFields) error) {
	v, generated, err := a.Manage.UpdateClient(r.Context(), mux.Vars(r)["id"], ifMatch, edit)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.audit(r, "admin.client.updated", "client_id", v.ID, "secret_generated", generated != "")
	w.Header().Set("ETag", v.ETag())
	writeJSON(w, http.StatusOK, createdClient{v, generated})
}

func (a *API) deleteClient(w http.ResponseWriter, r *http.Request) {
	id := mux.Vars(r)["id"]
	if err := a.Manage.DeleteClient(r.Context(), id); err != nil {
		a.fail(w, r, err)
		return
	}
	a.audit(r, "admin.client.deleted", "client_id", id)
	w.WriteHeader(http.StatusNoContent)
}

// addedSecret is a new secret's description and, when generated, the secret (shown once).
type addedSecret struct {
	*manage.SecretView
	Secret string `json:"secret,omitempty"`
}

func (a *API) addSecret(w http.ResponseWriter, r *http.Request) {
	var in manage.NewSecret
	if r.ContentLength != 0 || r.Header.Get("Content-Type") != "" {
		if err := decode(r, &in); err != nil {
			a.fail(w, r, err)
			return
		}
	}
	id := mux.Vars(r)["id"]
	sv, generated, err := a.Manage.AddSecret(r.Context(), id, in)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.audit(r, "admin.client.secret_added", "client_id", id, "secret_id", sv.ID, "secret_generated", generated != "")
	writeJSON(w, http.StatusCreated, addedSecret{sv, generated})
}

func (a *API) deleteSecret(w http.ResponseWriter, r *http.Request) {
	v := mux.Vars(r)
	if err := a.Manage.DeleteSecret(r.Context(), v["id"], v["secret_id"]); err != nil {
		a.fail(w, r, err)
		return
	}
	a.audit(r, "admin.client.secret_deleted", "client_id", v["id"], "secret_id", v["secret_id"])
	w.WriteHeader(http.StatusNoContent)
}
