package opstest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lingpai/lingpai/grants/is4refresh"
	"github.com/lingpai/lingpai/internal/testutil/lingpaitest"
	"github.com/lingpai/lingpai/storage"
)

// galeraRounds is how often each cross-node race runs (issue 17: 20 rounds each).
const galeraRounds = 20

const galeraRedirect = "https://app.example/callback"

// pair is two lingpai replicas on two different Galera nodes.
type pair [2]*lingpaitest.Server

// race sends the same token request to both replicas at once and returns both answers.
func (p pair) race(clientID, secret string, form url.Values) [2]*lingpaitest.Response {
	var got [2]*lingpaitest.Response
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			got[i] = p[i].Token(clientID, secret, form)
		}()
	}
	close(start)
	wg.Wait()
	return got
}

// oneWinner checks that exactly one answer is 200 and the other 400 invalid_grant; it returns the
// index of the winner.
func (p pair) oneWinner(t *testing.T, round int, got [2]*lingpaitest.Response, outcomes map[string]int) int {
	t.Helper()
	winner, winners := -1, 0
	for i, r := range got {
		outcomes[fmt.Sprintf("%d %s", r.Status, r.Str("error"))]++
		switch {
		case r.Status == 200:
			winner = i
			winners++
		case r.Status != 400 || r.Str("error") != "invalid_grant":
			t.Errorf("round %d: loser answered %d %s; want 400 invalid_grant; its replica logged:\n%s", round, r.Status, r.Raw, errorLines(p[i]))
		}
	}
	if winners != 1 {
		t.Fatalf("round %d: %d replicas answered 200; want exactly 1 (%s / %s)", round, winners, got[0].Raw, got[1].Raw)
	}
	return winner
}

// errorLines are the error-level lines of a replica's log (for a failure message).
func errorLines(s *lingpaitest.Server) string {
	var out []string
	for _, line := range strings.Split(s.Logs.String(), "\n") {
		if strings.Contains(line, `"level":"ERROR"`) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

var csrfField = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// browser is a user agent signed in at one replica: it collects authorization codes.
type browser struct {
	t      *testing.T
	s      *lingpaitest.Server
	client *http.Client
}

func signIn(t *testing.T, s *lingpaitest.Server, username, password string) *browser {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	b := &browser{t: t, s: s, client: &http.Client{Jar: jar, Timeout: 15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	_, page := b.do(http.MethodGet, "/account/login", nil)
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("login page without a csrf token")
	}
	if resp, _ := b.do(http.MethodPost, "/account/login", url.Values{"username": {username}, "password": {password}, "csrf_token": {m[1]}}); resp.StatusCode != 200 {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	return b
}

func (b *browser) do(method, path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, b.s.URL+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp, string(raw)
}

// code asks for a fresh authorization code (consent skipped).
func (b *browser) code(clientID string) string {
	b.t.Helper()
	q := url.Values{"client_id": {clientID}, "response_type": {"code"}, "redirect_uri": {galeraRedirect},
		"scope": {"openid offline_access"}, "state": {"state-123456"}, "nonce": {"nonce-123456"}}
	resp, _ := b.do(http.MethodGet, "/connect/authorize?"+q.Encode(), nil)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode/100 != 3 || loc == nil || loc.Query().Get("code") == "" {
		b.t.Fatalf("authorize: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	return loc.Query().Get("code")
}

// introspectActive asks s whether token is active, as the client that holds it.
func introspectActive(t *testing.T, s *lingpaitest.Server, clientID, secret, token string) bool {
	t.Helper()
	r := s.Post("/connect/introspect", url.Values{"token": {token}}, clientID, secret)
	if r.Status != 200 {
		t.Fatalf("introspection: %d %s", r.Status, r.Raw)
	}
	return r.Body["active"] == true
}

// testCodeRace: the same authorization code at both replicas at once. Exactly one gets tokens; the
// other invalid_grant. A later reuse of the code (RFC 6749 section 4.1.2: the server should
// revoke what the code issued) revokes the winner's tokens at both replicas.
func testCodeRace(t *testing.T, p pair, alice string) {
	secret := p[0].Client("web", []string{"authorization_code", "refresh_token"}, []string{"openid", "offline_access"}, func(c *storage.Client) {
		c.RedirectURIs = storage.StringList{galeraRedirect}
		c.SkipConsent = true
	})
	br := signIn(t, p[0], "alice", alice)
	outcomes := map[string]int{}
	revokedByRace := 0
	for round := range galeraRounds {
		code := br.code("web")
		form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {galeraRedirect}}
		got := p.race("web", secret, form)
		w := p.oneWinner(t, round, got, outcomes)
		access, refresh := got[w].Str("access_token"), got[w].Str("refresh_token")
		if access == "" || refresh == "" {
			t.Fatalf("round %d: winner's answer lacks tokens: %s", round, got[w].Raw)
		}
		if !introspectActive(t, p[w], "web", secret, access) {
			// The loser read the code as used (the winner's commit had arrived) and revoked.
			revokedByRace++
		}
		if again := p[1-w].Token("web", secret, form); again.Status != 400 || again.Str("error") != "invalid_grant" {
			t.Fatalf("round %d: code reused after the race: %d %s; want 400 invalid_grant", round, again.Status, again.Raw)
		}
		for i := range 2 {
			if introspectActive(t, p[i], "web", secret, access) {
				t.Fatalf("round %d: the winner's access token is still active at replica %d after the code was reused", round, i+1)
			}
		}
		if r := p[w].Token("web", secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}); r.Status != 400 {
			t.Fatalf("round %d: the winner's refresh token works after the code was reused: %d %s", round, r.Status, r.Raw)
		}
	}
	t.Logf("%d races: answers %s; the race itself revoked the winner's tokens %d×, the later reuse always",
		galeraRounds, summary(outcomes), revokedByRace)
}

// testSMSCodeRace: the same SMS code redeemed (grant_type=sms) at both replicas at once.
func testSMSCodeRace(t *testing.T, r *smsPair) {
	outcomes := map[string]int{}
	for round := range galeraRounds {
		r.clock.Add(24 * time.Hour) // a fresh day: the send limits of lily's phone start over
		if a := r.ask(round%2, lilyPhone, ""); a.Status != 200 {
			t.Fatalf("round %d: code request: %d %s", round, a.Status, a.Raw)
		}
		code := r.hook.Last(lilyPhone)
		got := r.p.race("smsapp", r.secret, url.Values{"grant_type": {"sms"}, "phone": {lilyPhone}, "sms": {code}})
		w := r.p.oneWinner(t, round, got, outcomes)
		if got[w].Str("access_token") == "" {
			t.Fatalf("round %d: winner's answer lacks a token: %s", round, got[w].Raw)
		}
	}
	t.Logf("%d races: answers %s", galeraRounds, summary(outcomes))
}

// testLegacyRace: the same IdentityServer4 refresh handle, stored as `lingpai import
// identityserver4` stores it (keyed by IS4's PersistedGrants key), at both replicas at once.
func testLegacyRace(t *testing.T, p pair, secret, subject string) {
	outcomes := map[string]int{}
	now := time.Now().UTC().Truncate(time.Second)
	for round := range galeraRounds {
		handle := fmt.Sprintf("%064X", round+1) // IS4 4.x handles: 64 hex characters, no dot
		if _, err := p[0].Store.SaveLegacyRefreshToken(context.Background(), &storage.LegacyRefreshToken{
			LookupKey: is4refresh.Key(handle), ClientID: "app", Subject: subject, Scopes: storage.StringList{"openid", "offline_access"},
			Audience: storage.StringList{}, IssuedAt: now.Add(-time.Hour), ExpiresAt: now.Add(24 * time.Hour), ImportedAt: now,
		}); err != nil {
			t.Fatal(err)
		}
		got := p.race("app", secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {handle}})
		w := p.oneWinner(t, round, got, outcomes)
		if got[w].Str("refresh_token") == "" {
			t.Fatalf("round %d: winner's answer lacks lingpai's refresh token: %s", round, got[w].Raw)
		}
		// The handle is used up on both nodes; the family it became lives on.
		for i := range 2 {
			if again := p[i].Token("app", secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {handle}}); again.Status != 400 {
				t.Fatalf("round %d: legacy handle accepted again at replica %d: %d %s", round, i+1, again.Status, again.Raw)
			}
		}
	}
	t.Logf("%d races: answers %s", galeraRounds, summary(outcomes))
}
