package handlers

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/ory/fosite"
)

func TestCheckClientRequest(t *testing.T) {
	basic := func(s string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, tt := range []struct {
		name, auth, body, want string
	}{
		{"body credentials", "", "grant_type=client_credentials&client_id=a&client_secret=b", ""},
		{"basic", basic("a:b%2Bc"), "grant_type=client_credentials", ""},
		{"basic and client_id in the body", basic("a:b"), "grant_type=client_credentials&client_id=a", ""},
		{"bearer is not client authentication", "Bearer x", "token=t", ""},
		{"repeated grant_type", "", "grant_type=a&grant_type=a", "invalid_request"},
		{"repeated empty scope", basic("a:b"), "grant_type=client_credentials&scope=&scope=", "invalid_request"},
		{"basic and client_secret", basic("a:b"), "grant_type=client_credentials&client_secret=b", "invalid_request"},
		{"not base64", "Basic %%%", "grant_type=client_credentials", "invalid_client"},
		{"no colon", basic("ab"), "grant_type=client_credentials", "invalid_client"},
		{"bad escape in id", basic("a%zz:b"), "grant_type=client_credentials", "invalid_client"},
		{"bad escape in secret", basic("a:b%"), "grant_type=client_credentials", "invalid_client"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/connect/token", strings.NewReader(tt.body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tt.auth != "" {
				r.Header.Set("Authorization", tt.auth)
			}
			if err := r.ParseForm(); err != nil {
				t.Fatal(err)
			}
			err := checkClientRequest(r)
			got := ""
			if err != nil {
				got = fosite.ErrorToRFC6749Error(err).ErrorField
			}
			if got != tt.want {
				t.Fatalf("got %q (%v), want %q", got, err, tt.want)
			}
			if tt.want == "invalid_client" && fosite.ErrorToRFC6749Error(err).CodeField != http.StatusUnauthorized {
				t.Fatalf("invalid_client with status %d", fosite.ErrorToRFC6749Error(err).CodeField)
			}
		})
	}
}

func TestRepeatedParam(t *testing.T) {
	if p := repeatedParam(url.Values{"b": {"1", "2"}, "a": {"1", "1"}, "c": {"x"}}); p != "a" {
		t.Fatalf("got %q, want the first repeated name, a", p)
	}
	if p := repeatedParam(url.Values{"a": {"1"}}); p != "" {
		t.Fatalf("got %q", p)
	}
}

func TestCORSWrap(t *testing.T) {
	allowed := func(_ context.Context, o string) (bool, error) {
		if o == "https://down.example" {
			return false, errors.New("database down")
		}
		return o == "https://app.example", nil
	}
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	logger := slog.New(slog.DiscardHandler)
	for _, tt := range []struct {
		name, method, origin string
		allowed              func(context.Context, string) (bool, error)
		status               int
		acao                 string
	}{
		{"preflight allowed", http.MethodOptions, "https://app.example", allowed, 204, "https://app.example"},
		{"preflight other", http.MethodOptions, "https://evil.example", allowed, 204, ""},
		{"preflight lookup fails", http.MethodOptions, "https://down.example", allowed, 204, ""},
		{"request allowed", http.MethodPost, "https://app.example", allowed, 418, "https://app.example"},
		{"request other", http.MethodPost, "https://evil.example", allowed, 418, ""},
		{"no origin", http.MethodPost, "", allowed, 418, ""},
		{"public document", http.MethodGet, "https://any.example", nil, 418, "https://any.example"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := (&CORS{Allowed: tt.allowed, Methods: []string{http.MethodPost}, Logger: logger}).Wrap(next)
			r := httptest.NewRequest(tt.method, "/connect/token", nil)
			if tt.origin != "" {
				r.Header.Set("Origin", tt.origin)
			}
			r.Header.Set("Access-Control-Request-Method", http.MethodPost)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.status || w.Header().Get("Access-Control-Allow-Origin") != tt.acao || w.Header().Get("Access-Control-Allow-Credentials") != "" {
				t.Fatalf("%d %v", w.Code, w.Header())
			}
			if !strings.Contains(strings.Join(w.Header().Values("Vary"), ","), "Origin") {
				t.Fatalf("no Vary: Origin: %v", w.Header())
			}
		})
	}
}
