package websession

import (
	"context"
	"net/http/httptest"
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
