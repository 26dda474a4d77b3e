package is4test

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// SeedBulk writes n users (v3 hashes, confirmed phones, a role claim each) and n live refresh
// tokens of them for client "app" in multi-row batches; Seed's clients must be there already.
func SeedBulk(t testing.TB, s *Source, n int) {
	t.Helper()
	now := time.Now().UTC()
	const batch = 500
	insert := func(table string, cols []string, rows func(i int) []any) {
		q := make([]string, len(cols))
		for i, c := range cols {
			q[i] = s.Q(c)
		}
		marks := "(" + strings.TrimSuffix(strings.Repeat("?,", len(cols)), ",") + ")"
		tx, err := s.DB.Begin()
		if err != nil {
			t.Fatal(err)
		}
		for start := 0; start < n; start += batch {
			end := min(start+batch, n)
			var args []any
			for i := start; i < end; i++ {
				args = append(args, rows(i)...)
			}
			stmt := fmt.Sprintf("INSERT INTO %s (%s) VALUES %s", s.Q(table), strings.Join(q, ","),
				strings.TrimSuffix(strings.Repeat(marks+",", end-start), ","))
			if _, err := tx.Exec(s.rebind(stmt), args...); err != nil {
				t.Fatalf("bulk %s: %v", table, err)
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	id := func(i int) string { return fmt.Sprintf("bulk0000-0000-4000-8000-%012d", i) }
	insert("AspNetUsers", []string{"Id", "UserName", "NormalizedUserName", "Email", "NormalizedEmail", "EmailConfirmed", "PasswordHash",
		"PhoneNumber", "PhoneNumberConfirmed", "TwoFactorEnabled", "LockoutEnabled", "AccessFailedCount"}, func(i int) []any {
		name := fmt.Sprintf("user%06d", i)
		return []any{id(i), name, strings.ToUpper(name), name + "@example.com", strings.ToUpper(name) + "@EXAMPLE.COM", true,
			HashV3SHA256, fmt.Sprintf("137%08d", i), true, false, true, 0}
	})
	insert("AspNetUserClaims", []string{"UserId", "ClaimType", "ClaimValue"}, func(i int) []any {
		return []any{id(i), "department", fmt.Sprintf("d%d", i%50)}
	})
	insert("PersistedGrants", []string{"Key", "Type", "SubjectId", "SessionId", "ClientId", "CreationTime", "Expiration", "Data"}, func(i int) []any {
		created := now.Add(-time.Hour).Truncate(time.Second)
		data := fmt.Sprintf(`{"CreationTime":"%s","Lifetime":2592000,"ConsumedTime":null,"AccessToken":{"AllowedSigningAlgorithms":[],"Confirmation":null,"Audiences":["api1"],"Issuer":"https://is4.example","CreationTime":"%s","Lifetime":3600,"Type":"access_token","ClientId":"app","AccessTokenType":0,"Description":null,"Claims":[{"Type":"client_id","Value":"app","ValueType":"http://www.w3.org/2001/XMLSchema#string"},{"Type":"scope","Value":"openid","ValueType":"http://www.w3.org/2001/XMLSchema#string"},{"Type":"scope","Value":"offline_access","ValueType":"http://www.w3.org/2001/XMLSchema#string"},{"Type":"sub","Value":"%s","ValueType":"http://www.w3.org/2001/XMLSchema#string"}],"Version":4},"Version":4}`,
			created.Format(time.RFC3339), created.Format(time.RFC3339), id(i))
		return []any{Key(Handle()), "refresh_token", id(i), "SID", "app", s.Time(created), s.Time(created.Add(30 * 24 * time.Hour)), data}
	})
}
