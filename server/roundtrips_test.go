package server_test

import (
	"context"
	"database/sql"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"gorm.io/gorm"

	"github.com/lingpai/lingpai/config"
	"github.com/lingpai/lingpai/internal/testutil/lingpaitest"
)

// statementLog counts the statements GORM sends, and the transactions they ran in (each one a
// BEGIN and a COMMIT: two more round trips).
type statementLog struct {
	mu     sync.Mutex
	on     bool
	sqls   []string
	txs    map[any]bool
	txSeen int
}

func (l *statementLog) install(t *testing.T, db *gorm.DB) {
	t.Helper()
	record := func(db *gorm.DB) {
		l.mu.Lock()
		defer l.mu.Unlock()
		if !l.on || db.DryRun { // a dry run builds a subquery's SQL; nothing is sent
			return
		}
		l.sqls = append(l.sqls, db.Statement.SQL.String())
		switch pool := db.Statement.ConnPool.(type) {
		case *gorm.PreparedStmtTX, *sql.Tx:
			if !l.txs[pool] {
				l.txs[pool] = true
				l.txSeen++
			}
		}
	}
	cb := db.Callback()
	for name, err := range map[string]error{
		"query":  cb.Query().After("gorm:query").Register("roundtrips:query", record),
		"create": cb.Create().After("gorm:create").Register("roundtrips:create", record),
		"update": cb.Update().After("gorm:update").Register("roundtrips:update", record),
		"delete": cb.Delete().After("gorm:delete").Register("roundtrips:delete", record),
		"row":    cb.Row().After("gorm:row").Register("roundtrips:row", record),
		"raw":    cb.Raw().After("gorm:raw").Register("roundtrips:raw", record),
	} {
		if err != nil {
			t.Fatalf("register %s callback: %v", name, err)
		}
	}
}

func (l *statementLog) start() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.on, l.sqls, l.txs, l.txSeen = true, nil, map[any]bool{}, 0
}

func (l *statementLog) stop() (roundTrips int, sqls []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.on = false
	return len(l.sqls) + 2*l.txSeen, l.sqls
}

// TestRefreshRoundTrips counts the database round trips of one refresh (issue 16 item 4): every
// statement, plus BEGIN and COMMIT of each transaction.
func TestRefreshRoundTrips(t *testing.T) {
	// The refresh token read (joined with its user and the user's lockout, for the refresh
	// guard), the successor refresh token's insert, and the compare-and-set that retires the
	// presented token: no transaction (storage.RotateRefresh). Storing JWT access tokens (the
	// default) adds the new access token's insert and the old one's delete.
	for _, tc := range []struct {
		name   string
		store  bool
		budget int
	}{
		{"access tokens stored", true, 5},
		{"access tokens not stored", false, 3},
	} {
		t.Run(tc.name, func(t *testing.T) { refreshRoundTrips(t, tc.store, tc.budget) })
	}
}

func refreshRoundTrips(t *testing.T, store bool, budget int) {
	each(t, func(t *testing.T, backend string) {
		s := lingpaitest.Start(t, backend, func(c *config.Config) { c.Tokens.StoreAccessTokens = store })
		secret := s.Client("app", []string{"password", "refresh_token"}, []string{"api", "offline_access"})
		s.User("alice", "alice-password")
		r := s.Token("app", secret, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-password"}})
		rt := r.Str("refresh_token")
		if rt == "" {
			t.Fatalf("no refresh token: %s", r.Raw)
		}
		var log statementLog
		log.install(t, s.Store.DB(context.Background()))
		// Tests run with server.cache_ttl 0, so client and key lookups (per-process cached in
		// production) are counted, then subtracted.
		for i := range 3 {
			log.start()
			r = s.Token("app", secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
			n, sqls := log.stop()
			if r.Status != http.StatusOK {
				t.Fatalf("refresh %d: %d %s", i, r.Status, r.Raw)
			}
			rt = r.Str("refresh_token")
			cached := 0
			for _, q := range sqls {
				if strings.Contains(q, "FROM `clients`") || strings.Contains(q, "FROM `client_secrets`") ||
					strings.Contains(q, "FROM `client_settings`") || strings.Contains(q, "FROM `signing_keys`") {
					cached++
				}
			}
			n -= cached
			t.Logf("%s refresh %d: %d round trips (+%d client and key lookups, cached for server.cache_ttl in production):\n  %s", backend, i, n, cached, strings.Join(sqls, "\n  "))
			if n > budget {
				t.Errorf("refresh %d took %d database round trips, want at most %d", i, n, budget)
			}
		}
	})
}
