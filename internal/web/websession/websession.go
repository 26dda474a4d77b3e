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
	// hostPrefix is used over HTTPS: a __Host- cookie is only accepted when set Secure, for "/",
	// with no Domain, so neither a sibling subdomain nor a plain-HTTP response can plant one.
	hostPrefix = "__Host-"
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

// name is a cookie's name: __Host- prefixed when the cookies are Secure.
func (m *Manager) name(base string) string {
	if m.Secure {
		return hostPrefix + base
	}
	return base
}

func (m *Manager) cookie(name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: m.name(name), Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true,
		Secure: m.Secure, SameSite: http.SameSiteLaxMode}
}

// value is the request's cookie base (by its served name), or "".
func (m *Manager) value(r *http.Request, base string) string {
	c, err := r.Cookie(m.name(base))
	if err != nil {
		return ""
	}
	return c.Value
}

// Current returns the request's live session, or nil when it has none.
func (m *Manager) Current(r *http.Request) (*storage.LoginSession, error) {
	v := m.value(r, sessionCookie)
	if v == "" {
		return nil, nil
	}
	ls, err := m.Store.LoginSessionByCookie(r.Context(), v, m.Now())
	if errors.Is(err, fosite.ErrNotFound) {
		return nil, nil
	}
	return ls, err
}

// Start signs the browser in as userID, replacing any session it had (no session fixation).
func (m *Manager) Start(w http.ResponseWriter, r *http.Request, userID, amr string) (*storage.LoginSession, error) {
	if old := m.value(r, sessionCookie); old != "" {
		_ = m.Store.DeleteLoginSession(r.Context(), old)
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
	if v := m.value(r, sessionCookie); v != "" {
		return m.Store.DeleteLoginSession(r.Context(), v)
	}
	return nil
}

// CSRFToken returns the token a form for purpose must post back, setting the browser's CSRF
// cookie when it has none. The token is an HMAC of that cookie and of the browser's session
// cookie: a page on another site can make the browser post but cannot read the token, and a
// cookie and token pair taken from another browser (and planted in this one) was bound to that
// browser's session, not this one's.
func (m *Manager) CSRFToken(w http.ResponseWriter, r *http.Request, purpose string) (string, error) {
	value := m.value(r, csrfCookie)
	if len(value) < 32 {
		var err error
		if value, err = random(); err != nil {
			return "", err
		}
		http.SetCookie(w, m.cookie(csrfCookie, value, 0))
	}
	return m.mac(value, m.value(r, sessionCookie), purpose), nil
}

// CheckCSRF reports whether the posted csrf_token matches the browser's cookies for purpose.
func (m *Manager) CheckCSRF(r *http.Request, purpose string) bool {
	value := m.value(r, csrfCookie)
	if value == "" {
		return false
	}
	return hmac.Equal([]byte(r.PostFormValue("csrf_token")), []byte(m.mac(value, m.value(r, sessionCookie), purpose)))
}

func (m *Manager) mac(value, session, purpose string) string {
	h := hmac.New(sha256.New, m.CSRFKey)
	h.Write([]byte(purpose + "\x00" + value + "\x00"))
	s := sha256.Sum256([]byte(session)) // fixed length, so the fields cannot run into each other
	h.Write(s[:])
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}
