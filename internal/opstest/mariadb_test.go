package opstest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// privateMariaDB is a mariadbd of our own on a free port (test-rigs C), so the outage test can
// stop and start it without touching the system database.
type privateMariaDB struct {
	t    *testing.T
	dir  string
	port int
	cmd  *exec.Cmd
	done chan struct{}
}

const skipMariaDB = "MYSQL TEST SKIPPED: "

var templateOnce sync.Once
var templateDir, templateErr = "", error(nil)

// mariaTemplate initialises one pristine datadir per test run; each instance copies it, which is
// much faster than mariadb-install-db.
func mariaTemplate(t *testing.T) string {
	templateOnce.Do(func() {
		if _, err := exec.LookPath("mariadbd"); err != nil {
			templateErr = fmt.Errorf("mariadbd not installed (apt-get install mariadb-server)")
			return
		}
		dir, err := os.MkdirTemp("", "lingpai-mariadb-template-")
		if err != nil {
			templateErr = err
			return
		}
		out, err := exec.Command("mariadb-install-db", "--no-defaults", "--user=root", "--datadir="+dir+"/data",
			"--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve",
			"--innodb-log-file-size=8M", "--innodb-buffer-pool-size=32M").CombinedOutput()
		if err != nil {
			templateErr = fmt.Errorf("mariadb-install-db: %w\n%s", err, out)
			return
		}
		templateDir = dir
	})
	if templateErr != nil {
		t.Skip(skipMariaDB + templateErr.Error())
	}
	return templateDir
}

func startPrivateMariaDB(t *testing.T) *privateMariaDB {
	t.Helper()
	tpl := mariaTemplate(t)
	dir := t.TempDir()
	if out, err := exec.Command("cp", "-a", tpl+"/data", dir+"/data").CombinedOutput(); err != nil {
		t.Skipf(skipMariaDB+"copy datadir: %v %s", err, out)
	}
	_ = os.MkdirAll(dir+"/tmp", 0o700)
	_, portStr, _ := net.SplitHostPort(freeAddr(t))
	port, _ := strconv.Atoi(portStr)
	m := &privateMariaDB{t: t, dir: dir, port: port}
	if err := m.start(); err != nil {
		t.Skip(skipMariaDB + err.Error())
	}
	t.Cleanup(m.stop)
	if out, err := exec.Command("mariadb", "--no-defaults", "-h127.0.0.1", "-P"+portStr, "-uroot",
		"-e", "CREATE DATABASE lingpai CHARACTER SET utf8mb4 COLLATE utf8mb4_bin").CombinedOutput(); err != nil {
		t.Fatalf("create database: %v %s", err, out)
	}
	return m
}

// DSN is the lingpai database on this instance.
func (m *privateMariaDB) DSN() string {
	return fmt.Sprintf("root@tcp(127.0.0.1:%d)/lingpai?timeout=2s&readTimeout=5s&writeTimeout=5s", m.port)
}

// start runs mariadbd on the same datadir and port and waits until it answers.
func (m *privateMariaDB) start() error {
	d := m.dir
	m.cmd = exec.Command("mariadbd", "--no-defaults", "--user=root", "--datadir="+d+"/data", "--socket="+d+"/mysqld.sock",
		"--port="+strconv.Itoa(m.port), "--bind-address=127.0.0.1", "--pid-file="+d+"/mysqld.pid",
		"--log-error="+d+"/error.log", "--tmpdir="+d+"/tmp", "--skip-name-resolve", "--skip-log-bin",
		"--innodb-log-file-size=8M", "--innodb-buffer-pool-size=64M", "--innodb-flush-log-at-trx-commit=0",
		"--skip-innodb-doublewrite", "--character-set-server=utf8mb4", "--collation-server=utf8mb4_unicode_ci")
	if err := m.cmd.Start(); err != nil {
		return fmt.Errorf("start mariadbd: %w", err)
	}
	m.done = make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) { _ = c.Wait(); close(done) }(m.cmd, m.done)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		if exec.Command("mariadb-admin", "--no-defaults", "-h127.0.0.1", "-P"+strconv.Itoa(m.port), "-uroot", "ping").Run() == nil {
			return nil
		}
		select {
		case <-m.done:
			log, _ := os.ReadFile(filepath.Join(d, "error.log"))
			return fmt.Errorf("mariadbd exited at start:\n%s", log)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("mariadbd did not answer within 20s")
}

// stop shuts mariadbd down cleanly (SIGTERM) and waits, so committed rows are on disk.
func (m *privateMariaDB) stop() {
	if m.cmd == nil || m.cmd.Process == nil {
		return
	}
	select {
	case <-m.done:
		return
	default:
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.done:
	case <-time.After(20 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.done
	}
}
