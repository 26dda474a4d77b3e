package websession

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/lingpai/lingpai/storage"
)

type memStore struct {
	rows map[string]storage.LoginSession
}

func (m *memStore) CreateLoginSession(_ context.Context, cookie string, ls *storage.LoginSession) error {
	m.rows[cookie] = *ls
	return nil
}

func (m *memStore) LoginSessionByCookie(_ context.Context, cookie string, _ time.Time) (*storage.LoginSession, error) {
	ls, ok := m.rows[cookie]
	if !ok {
		return nil, fosite.ErrNotFound
	}
	return &ls, nil
}

func (m *memStore) DeleteLoginSession(_ context.Context, cookie string) error {
	delete(m.rows, cookie)
	return nil
}

// auth_time keeps sub-second precision (to the millisecond every backend stores): cut to the
// second, a sign-in looks up to a second older than it is and can fail a small max_age at once.
func TestStartKeepsAuthTimeToTheMillisecond(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 987654321, time.UTC)
	m := &Manager{Store: &memStore{rows: map[string]storage.LoginSession{}}, CSRFKey: []byte("k"), Lifetime: time.Hour,
		Now: func() time.Time { return now }}
	w := httptest.NewRecorder()
	ls, err := m.Start(w, httptest.NewRequest("POST", "/account/login", nil), "u1", "pwd")
	if err != nil {
		t.Fatal(err)
	}
	if want := now.Truncate(time.Millisecond); !ls.AuthTime.Equal(want) {
		t.Fatalf("auth_time %v, want %v", ls.AuthTime, want)
	}
	r := httptest.NewRequest("GET", "/connect/authorize", nil)
	for _, c := range w.Result().Cookies() {
		r.AddCookie(c)
	}
	got, err := m.Current(r)
	if err != nil || got == nil || !got.AuthTime.Equal(ls.AuthTime) || got.UserID != "u1" {
		t.Fatalf("Current: %+v %v", got, err)
	}
}

// Over HTTPS the cookies are __Host- prefixed, and a CSRF token is bound to the browser's session
// cookie: the same CSRF cookie and token under another session is refused.
func TestHostCookiesAndSessionBoundCSRF(t *testing.T) {
	m := &Manager{Store: &memStore{rows: map[string]storage.LoginSession{}}, CSRFKey: []byte("k"), Lifetime: time.Hour, Secure: true,
		Now: time.Now}
	w := httptest.NewRecorder()
	if _, err := m.Start(w, httptest.NewRequest("POST", "/account/login", nil), "u1", "pwd"); err != nil {
		t.Fatal(err)
	}
	get := httptest.NewRequest("GET", "/account/consent", nil)
	for _, c := range w.Result().Cookies() {
		get.AddCookie(c)
	}
	w2 := httptest.NewRecorder()
	token, err := m.CSRFToken(w2, get, "consent")
	if err != nil {
		t.Fatal(err)
	}
	cookies := append(w.Result().Cookies(), w2.Result().Cookies()...)
	for _, c := range cookies {
		if !strings.HasPrefix(c.Name, "__Host-") || !c.Secure || c.Path != "/" || c.Domain != "" {
			t.Fatalf("cookie %s: want a __Host- cookie (Secure, Path=/, no Domain)", c)
		}
	}
	post := func(session string) bool {
		r := httptest.NewRequest("POST", "/account/consent", strings.NewReader(url.Values{"csrf_token": {token}}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for _, c := range cookies {
			if strings.HasSuffix(c.Name, "session") && session != "" {
				c = &http.Cookie{Name: c.Name, Value: session}
			}
			r.AddCookie(c)
		}
		return m.CheckCSRF(r, "consent")
	}
	if !post("") {
		t.Fatal("own token refused")
	}
	if post("another-browsers-session") {
		t.Fatal("token accepted under another session")
	}
}
