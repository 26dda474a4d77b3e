package is4import_test

import (
	"context"
	"database/sql"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"

	"github.com/lingpai/lingpai/internal/is4import"
	"github.com/lingpai/lingpai/internal/is4import/is4test"
	"github.com/lingpai/lingpai/internal/testutil/lingpaitest"
)

// TestSQLServerRoute walks README's "SQL Server" steps after the export: the .tsv files bcp
// writes (is4test.BCPExport shapes them as `bcp queryout -c -C 65001 -t "\t"` does: NULL as an
// empty field, an empty string as a NUL character, CRLF rows, datetime2 with seven decimals,
// datetimeoffset with its offset) are loaded into MariaDB with the documented command,
// `mysql --local-infile=1 is4 < is4_v4.mysql.load.sql`, into the documented schema; then the
// import reads that database and the users sign in with their IS4 passwords.
func TestSQLServerRoute(t *testing.T) {
	if _, err := exec.LookPath("mysql"); err != nil {
		t.Skip("no mysql client")
	}
	ctx := context.Background()
	from := is4test.New(t, "sqlite") // stands in for SQL Server: the rows bcp would read
	seed := is4test.Seed(t, from)
	from.AddUser(t, is4test.User{ID: "11111111-0000-4000-8000-00000000000a", UserName: "lilei", Email: "李雷@example.cn",
		PasswordHash: is4test.HashV3SHA512_10k, Claims: [][2]string{{"name", "李雷"}}})
	dir := t.TempDir()
	is4test.BCPExport(t, from, dir)
	if b, _ := os.ReadFile(filepath.Join(dir, "AspNetUsers.tsv")); !strings.Contains(string(b), "\t\x00\t") || !strings.Contains(string(b), "\r\n") {
		t.Fatalf("AspNetUsers.tsv is not bcp-shaped (no NUL for an empty string, no CRLF):\n%q", b)
	}

	to := is4test.New(t, "mysql") // is4_v4.mysql.sql applied, as README says
	cfg, err := mysqldrv.ParseDSN(to.DSN)
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(cfg.Addr, ":")
	script, err := filepath.Abs("is4test/testdata/is4_v4.mysql.load.sql")
	if err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(script)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	args := []string{"--local-infile=1", "-h", host, "-P", port, "-u", cfg.User, cfg.DBName}
	if cfg.Passwd != "" {
		args = append(args, "-p"+cfg.Passwd)
	}
	cmd := exec.Command("mysql", args...)
	cmd.Dir, cmd.Stdin = dir, in
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mysql < is4_v4.mysql.load.sql: %v\n%s", err, out)
	}

	// Every row arrived, NULL stayed NULL, an empty string stayed empty, times kept their instant.
	for _, table := range []string{"Clients", "ClientSecrets", "ClientGrantTypes", "ClientScopes", "ApiResources", "AspNetUsers",
		"AspNetUserClaims", "AspNetUserLogins", "AspNetUserRoles", "PersistedGrants"} {
		var a, b int
		_ = from.DB.QueryRow(`SELECT COUNT(*) FROM "` + table + `"`).Scan(&a)
		if err := to.DB.QueryRow("SELECT COUNT(*) FROM `" + table + "`").Scan(&b); err != nil || a != b || a == 0 {
			t.Errorf("%s: %d rows in, %d out (%v)", table, a, b, err)
		}
	}
	var email, lockout sql.NullString
	var frankLockout time.Time
	if err := to.DB.QueryRow("SELECT Email, LockoutEnd FROM AspNetUsers WHERE UserName = 'bob'").Scan(&email, &lockout); err != nil ||
		!email.Valid || email.String != "" || lockout.Valid {
		t.Errorf("bob: Email %q valid=%v (want empty, not NULL), LockoutEnd %+v (want NULL): %v", email.String, email.Valid, lockout, err)
	}
	var want string
	_ = from.DB.QueryRow(`SELECT "LockoutEnd" FROM "AspNetUsers" WHERE "UserName" = 'frank'`).Scan(&want)
	wantAt, _ := time.Parse("2006-01-02 15:04:05.999999999", want)
	if err := to.DB.QueryRow("SELECT LockoutEnd FROM AspNetUsers WHERE UserName = 'frank'").Scan(&frankLockout); err != nil ||
		frankLockout.Sub(wantAt).Abs() > time.Microsecond {
		t.Errorf("frank's LockoutEnd %v, want %v: %v", frankLockout, wantAt, err)
	}

	s := lingpaitest.Start(t, "sqlite", nil)
	o := options(from)
	o.SourceDriver, o.SourceDSN = "mysql", to.DSN
	if _, err := is4import.Run(ctx, o, s.Store, nil); err != nil {
		t.Fatal(err)
	}
	password := func(user string) url.Values {
		return url.Values{"grant_type": {"password"}, "username": {user}, "password": {is4test.Password}, "scope": {"openid profile"}}
	}
	for _, user := range []string{"alice", "bob", "lilei"} {
		r := s.Token("app", seed.SecretSHA256, password(user))
		if r.Status != 200 {
			t.Fatalf("%s: %d %s", user, r.Status, r.Raw)
		}
		if user == "lilei" && idTokenClaims(t, r.Str("id_token"))["name"] != "李雷" {
			t.Errorf("lilei's name claim: %v", idTokenClaims(t, r.Str("id_token")))
		}
	}
	if r := s.Token("app", seed.SecretSHA256, password("frank")); r.Status != 400 {
		t.Errorf("frank's lockout (datetimeoffset) did not hold: %d %s", r.Status, r.Raw)
	}
	if r := s.Token("app", seed.SecretSHA256, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {seed.LiveHandle}}); r.Status != 200 {
		t.Errorf("IS4 refresh handle after the SQL Server route: %d %s", r.Status, r.Raw)
	}
}
