package opstest

import (
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	_ "github.com/glebarez/go-sqlite"  // the SQLite fault test locks the file itself
	_ "github.com/go-sql-driver/mysql" // the test counts stored rows itself
)

type answer struct {
	status int
	body   map[string]any
}

func post(t *testing.T, base, path string, form url.Values, user, pass string) answer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	client := &http.Client{Timeout: 15 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	var a answer
	a.status = resp.StatusCode
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &a.body)
	return a
}

func get(t *testing.T, u string) int {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestDatabaseOutage stops the (private) MariaDB under a running lingpai and starts it again.
func TestDatabaseOutage(t *testing.T) {
	db := startPrivateMariaDB(t)
	addr := freeAddr(t)
	// cache_ttl=1s: the client cache must not hide the outage from the test.
	env := baseEnv(addr, "mysql", db.DSN(), "LINGPAI_SERVER_CACHE_TTL=1s", "LINGPAI_JANITOR_INTERVAL=0s")
	secret := clientSecret(t, run(t, env, "client", "create", "--id", "app", "--grant-types", "client_credentials,password", "--scopes", "api1"))
	run(t, env, "user", "create", "--username", "alice", "--password", "alice-password-1")
	p := startServe(t, env)

	cc := url.Values{"grant_type": {"client_credentials"}}
	pw := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-password-1"}}
	issued := 0
	var kept string // a token whose revocation is attempted during the outage
	for _, form := range []url.Values{cc, pw} {
		a := post(t, p.URL, "/connect/token", form, "app", secret)
		if a.status != 200 {
			t.Fatalf("before the outage: %d %v", a.status, a.body)
		}
		kept, _ = a.body["access_token"].(string)
		issued++
	}

	db.stop()
	time.Sleep(1100 * time.Millisecond) // past cache_ttl
	for i, form := range []url.Values{cc, pw, cc} {
		a := post(t, p.URL, "/connect/token", form, "app", secret)
		if a.status != http.StatusServiceUnavailable || a.body["error"] != "temporarily_unavailable" || a.body["access_token"] != nil {
			t.Fatalf("during the outage, request %d: %d %v (want 503 temporarily_unavailable, no token)", i, a.status, a.body)
		}
	}
	// Revocation and introspection cannot be done either, and say so: a 200 to a revocation that
	// did not happen would tell a client logging a user out that the token is dead.
	for _, path := range []string{"/connect/revocation", "/connect/introspect"} {
		if a := post(t, p.URL, path, url.Values{"token": {kept}}, "app", secret); a.status != http.StatusServiceUnavailable || a.body["error"] != "temporarily_unavailable" {
			t.Fatalf("%s during the outage: %d %v (want 503 temporarily_unavailable)", path, a.status, a.body)
		}
	}
	if s := get(t, p.URL+"/readyz"); s != http.StatusServiceUnavailable {
		t.Fatalf("/readyz during the outage: %d, want 503", s)
	}
	if s := get(t, p.URL+"/healthz"); s != 200 {
		t.Fatalf("/healthz during the outage: %d, want 200", s)
	}

	restarted := time.Now()
	if err := db.start(); err != nil {
		t.Fatal(err)
	}
	var recovered time.Duration
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		a := post(t, p.URL, "/connect/token", cc, "app", secret)
		if a.status == 200 {
			issued++
			recovered = time.Since(restarted)
			break
		}
		if a.status != http.StatusServiceUnavailable {
			t.Fatalf("while recovering: %d %v", a.status, a.body)
		}
		if time.Now().After(deadline) {
			t.Fatal("lingpai did not recover within 10s of the database coming back")
		}
	}
	if a := post(t, p.URL, "/connect/token", pw, "app", secret); a.status != 200 {
		t.Fatalf("password grant after recovery: %d %v", a.status, a.body)
	}
	issued++
	if s := get(t, p.URL+"/readyz"); s != 200 {
		t.Fatalf("/readyz after recovery: %d", s)
	}
	if a := post(t, p.URL, "/connect/introspect", url.Values{"token": {kept}}, "app", secret); a.status != 200 || a.body["active"] != true {
		t.Fatalf("the token whose revocation failed during the outage: %d %v (want still active)", a.status, a.body)
	}
	t.Logf("recovered %s after the database came back, without a restart", recovered.Round(time.Millisecond))

	// Nothing half-written: exactly one stored access token per 200, none for the 503s.
	sqlDB, err := sql.Open("mysql", db.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer sqlDB.Close()
	var rows int
	if err := sqlDB.QueryRow("SELECT COUNT(*) FROM access_tokens").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != issued {
		t.Fatalf("%d access tokens stored, %d issued", rows, issued)
	}
	if p.Cmd.ProcessState != nil {
		t.Fatal("lingpai exited during the outage")
	}
}
