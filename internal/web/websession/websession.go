// Package websession is a browser's sign-in state at lingpai: an opaque session cookie whose hash
// keys a row in the database (so every replica shares it), and CSRF tokens for the login and
// consent forms.
package websession

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/ory/fosite"

	"github.com/lingpai/lingpai/storage"
)

const (
	sessionCookie = "lingpai_session"
	csrfCookie    = "lingpai_csrf"
)

// Store is the part of storage sessions need.
type Store interface {
	CreateLoginSession(ctx context.Context, cookie string, ls *storage.LoginSession) error
	LoginSessionByCookie(ctx context.Context, cookie string, now time.Time) (*storage.LoginSession, error)
	DeleteLoginSession(ctx context.Context, cookie string) error
}

// Manager issues and reads sessions and CSRF tokens.
type Manager struct {
	Store    Store
	CSRFKey  []byte        // a server secret shared by replicas
	Secure   bool          // cookies only over https (the issuer is https)
	Lifetime time.Duration // ui.session_lifetime
	Now      func() time.Time
}

func random() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("websession: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func (m *Manager) cookie(name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true,
		Secure: m.Secure, SameSite: http.SameSiteLaxMode}
}

// Current returns the request's live session, or nil when it has none.
func (m *Manager) Current(r *http.Request) (*storage.LoginSession, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil, nil //nolint:nilerr // no session cookie is no session, not an error
	}
	ls, err := m.Store.LoginSessionByCookie(r.Context(), c.Value, m.Now())
	if errors.Is(err, fosite.ErrNotFound) {
		return nil, nil
	}
	return ls, err
}

// Start signs the browser in as userID, replacing any session it had (no session fixation).
func (m *Manager) Start(w http.ResponseWriter, r *http.Request, userID, amr string) (*storage.LoginSession, error) {
	if old, err := r.Cookie(sessionCookie); err == nil {
		_ = m.Store.DeleteLoginSession(r.Context(), old.Value)
	}
	value, err := random()
	if err != nil {
		return nil, err
	}
	sid, err := random()
	if err != nil {
		return nil, err
	}
	now := m.Now().UTC()
	// Milliseconds, which every backend keeps (MySQL DATETIME(3)), so the session read back is the
	// one made. Not whole seconds: fosite compares auth_time + max_age with the request's time to
	// the nanosecond, and a second cut off makes a sign-in up to a second older than it is, so a
	// fresh one could already fail a small max_age and send the user round again.
	ls := &storage.LoginSession{SID: sid[:22], UserID: userID, AuthTime: now.Truncate(time.Millisecond), AMR: amr, ExpiresAt: now.Add(m.Lifetime)}
	if err := m.Store.CreateLoginSession(r.Context(), value, ls); err != nil {
		return nil, err
	}
	http.SetCookie(w, m.cookie(sessionCookie, value, int(m.Lifetime.Seconds())))
	return ls, nil
}

// End signs the browser out.
func (m *Manager) End(w http.ResponseWriter, r *http.Request) error {
	http.SetCookie(w, m.cookie(sessionCookie, "", -1))
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		return m.Store.DeleteLoginSession(r.Context(), c.Value)
	}
	return nil
}

// CSRFToken returns the token a form for purpose must post back, setting the browser's CSRF
// cookie when it has none. The token is an HMAC of that cookie: a page on another site can make
// the browser post, but cannot read the token.
func (m *Manager) CSRFToken(w http.ResponseWriter, r *http.Request, purpose string) (string, error) {
	c, err := r.Cookie(csrfCookie)
	value := ""
	if err == nil && len(c.Value) >= 32 {
		value = c.Value
	} else {
		if value, err = random(); err != nil {
			return "", err
		}
		http.SetCookie(w, m.cookie(csrfCookie, value, 0))
	}
	return m.mac(value, purpose), nil
}

// CheckCSRF reports whether the posted csrf_token matches the browser's cookie for purpose.
func (m *Manager) CheckCSRF(r *http.Request, purpose string) bool {
	c, err := r.Cookie(csrfCookie)
	if err != nil || c.Value == "" {
		return false
	}
	return hmac.Equal([]byte(r.PostFormValue("csrf_token")), []byte(m.mac(c.Value, purpose)))
}

func (m *Manager) mac(value, purpose string) string {
	h := hmac.New(sha256.New, m.CSRFKey)
	h.Write([]byte(purpose + "\x00" + value))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}
