// Package pgrig starts a private PostgreSQL server for tests: initdb into a directory of its own
// (named lingpai-rig-pg-*, so CI can stop leftovers), pg_ctl start on a free loopback port, trust
// authentication for the role "root", stopped when the test ends. Use it where a test needs a
// server it may stop or restart; the storage tests share the machine's server through
// LINGPAI_TEST_POSTGRES_DSN instead, which is faster.
//
// PostgreSQL refuses to run as root, so when the test runs as root the server runs as the
// "postgres" user (Debian's package creates it) through runuser.
package pgrig

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"
)

// SkipPrefix starts the message of a test skipped because PostgreSQL is not installed; under
// CI=true the rig fails the test instead.
const SkipPrefix = "POSTGRES RIG SKIPPED: "

// Server is a running private PostgreSQL.
type Server struct {
	Port int
	dir  string
	bin  string
	as   string // user the server runs as ("" = the test's own)
	t    testing.TB
}

// Start initialises and starts a server; it is stopped and removed when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := binDir()
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("pgrig: PostgreSQL server binaries not found (apt-get install postgresql)")
		}
		t.Skip(SkipPrefix + "PostgreSQL server binaries not found (apt-get install postgresql)")
	}
	dir, err := os.MkdirTemp("", "lingpai-rig-pg-")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{dir: dir, bin: bin, t: t}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("pgrig: running as root needs the postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		s.as = "postgres"
	}
	t.Cleanup(func() {
		s.Stop()
		_ = os.RemoveAll(dir)
	})
	data := filepath.Join(dir, "data")
	s.run("initdb", "-D", data, "-U", "root", "--auth=trust", "-E", "UTF8", "--no-sync")
	s.Port = freePort(t)
	s.Start()
	return s
}

// DSN returns a pgx DSN for database db (the server has "postgres" from the start).
func (s *Server) DSN(db string) string {
	return fmt.Sprintf("postgres://root@127.0.0.1:%d/%s?sslmode=disable", s.Port, db)
}

// Start starts (or restarts) the server on its port and data and waits until it accepts connections.
func (s *Server) Start() {
	s.t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off", s.Port, s.dir)
	s.run("pg_ctl", "-D", filepath.Join(s.dir, "data"), "-l", filepath.Join(s.dir, "server.log"), "-o", opts, "-w", "-t", "30", "start")
	addr := fmt.Sprintf("127.0.0.1:%d", s.Port)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			_ = c.Close()
			return
		}
	}
	log, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
	s.t.Fatalf("pgrig: server does not listen on %s:\n%s", addr, log)
}

// Stop stops the server (fast shutdown: open connections are closed), if it runs.
func (s *Server) Stop() {
	data := filepath.Join(s.dir, "data")
	if _, err := os.Stat(filepath.Join(data, "postmaster.pid")); err != nil {
		return
	}
	_ = s.command("pg_ctl", "-D", data, "-m", "fast", "-w", "-t", "30", "stop").Run()
}

func (s *Server) command(tool string, args ...string) *exec.Cmd {
	path := filepath.Join(s.bin, tool)
	if s.as != "" {
		return exec.Command("runuser", append([]string{"-u", s.as, "--", path}, args...)...)
	}
	return exec.Command(path, args...)
}

func (s *Server) run(tool string, args ...string) {
	s.t.Helper()
	if out, err := s.command(tool, args...).CombinedOutput(); err != nil {
		s.t.Fatalf("pgrig: %s: %v\n%s", tool, err, out)
	}
}

// binDir finds the newest installed server's bin directory (Debian: /usr/lib/postgresql/N/bin).
func binDir() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi < vj
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "pg_ctl")); err == nil {
			return dirs[i]
		}
	}
	return ""
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
