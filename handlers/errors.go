package handlers

import (
	"encoding/json"
	"net/http"
)

// WriteError writes an RFC 6749 section 5.2 error body with no-store caching, for the errors
// lingpai answers itself (before fosite is involved).
func WriteError(w http.ResponseWriter, status int, code, description string) {
	body := map[string]string{"error": code}
	if description != "" {
		body["error_description"] = description
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="lingpai", charset="UTF-8"`)
	}
	WriteJSON(w, status, body)
}

// WriteJSON writes v as JSON that must not be cached.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
