package handlers

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"

	"github.com/lingpai/lingpai/internal/session"
)

// maxAgeExceeded must agree with fosite's OpenID Connect validator, which runs after it in
// NewAuthorizeResponse: where lingpai lets a session through and fosite does not, the client gets
// login_required instead of the user being asked to sign in again.
func TestMaxAgeAgreesWithFosite(t *testing.T) {
	validator := openid.NewOpenIDConnectRequestValidator(nil, &fosite.Config{})
	requestedAt := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	for _, maxAge := range []string{"1", "3", "60"} {
		for d := -50 * time.Millisecond; d <= 65*time.Second; d += 50 * time.Millisecond {
			authTime := requestedAt.Add(-d)
			ar := fosite.NewAuthorizeRequest()
			ar.Client = &fosite.DefaultClient{ID: "app"}
			ar.Form = url.Values{"max_age": {maxAge}}
			sess := session.New()
			sess.SetSubject("u1")
			sess.IDTokenClaims().AuthTime = authTime
			sess.IDTokenClaims().RequestedAt = requestedAt
			ar.Session = sess
			err := validator.ValidatePrompt(context.Background(), ar)
			if err != nil && !errors.Is(err, fosite.ErrLoginRequired) {
				t.Fatalf("max_age=%s, signed in %v before: %v", maxAge, d, err)
			}
			if got, fositeSays := maxAgeExceeded(maxAge, authTime, requestedAt), err != nil; got != fositeSays {
				t.Fatalf("max_age=%s, signed in %v before the request: lingpai exceeded=%v, fosite login_required=%v", maxAge, d, got, fositeSays)
			}
		}
	}
}

func TestMaxAgeEdgeValues(t *testing.T) {
	now := time.Now()
	for raw, want := range map[string]bool{"": false, "x": false, "-1": false, "0": true, "99999999999999": false} {
		if got := maxAgeExceeded(raw, now.Add(-time.Hour), now); got != want {
			t.Errorf("max_age=%q: %v, want %v", raw, got, want)
		}
	}
}

func TestReturnToDropsSatisfiedPromptAndMaxAgeZero(t *testing.T) {
	form := url.Values{"client_id": {"app"}, "prompt": {"login consent"}, "max_age": {"0"}, "lp_consent": {"denied"}}
	q, ok := parseReturn(returnTo(nil, form, "login"))
	if !ok || q.Get("prompt") != "consent" || q.Has("max_age") || q.Has("lp_consent") || q.Get("client_id") != "app" {
		t.Fatalf("after sign-in: %v", q)
	}
	form.Set("max_age", "30")
	if q, _ := parseReturn(returnTo(nil, form, "login")); q.Get("max_age") != "30" {
		t.Fatalf("max_age=30 dropped: %v", q)
	}
	if q, _ := parseReturn(returnTo(nil, form, "consent")); q.Get("max_age") != "30" || q.Get("prompt") != "login" {
		t.Fatalf("after consent: %v", q)
	}
}
