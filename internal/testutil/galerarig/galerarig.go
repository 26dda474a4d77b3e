// Package galerarig starts a private MariaDB Galera cluster for tests: N mariadbd processes with
// the galera-4 provider on loopback ports, each in its own directory (named lingpai-rig-galera-*,
// so CI can stop leftovers), stopped when the test ends. A node can be killed (-9), frozen
// (SIGSTOP) and thawed, and restarted; the helpers wait for the states a test needs.
//
// The flags are the ones measured to work as root on Debian (shared/notes/distributed-sql.md):
// node 1 bootstraps with --wsrep-new-cluster; joiners get their state by mysqldump SST (rsync
// SST fails as root) and, after a restart, by IST from the gcache.
package galerarig

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql" // the rig talks to its nodes through database/sql
)

// Provider is the galera-4 library (Debian package galera-4).
const Provider = "/usr/lib/galera/libgalera_smm.so"

// SkipPrefix starts the message of a test skipped because the rig cannot run here; under CI=true
// the rig fails the test instead, so that a Galera test can never silently not run in CI.
const SkipPrefix = "GALERA TEST SKIPPED: "

const template = "/tmp/lingpai-rig-galera-template"

// Cluster is a running Galera cluster.
type Cluster struct {
	Nodes []*Node
	t     testing.TB
	dir   string
	name  string
}

// Node is one mariadbd of the cluster.
type Node struct {
	Index     int // 1-based
	Port      int // SQL port on 127.0.0.1
	gcommPort int
	istPort   int
	dir       string
	c         *Cluster

	mu  sync.Mutex
	cmd *exec.Cmd
	log *os.File
}

// Start starts an n-node cluster and waits until every node is synced (wsrep_cluster_size = n,
// wsrep_ready = ON). It skips (or, under CI=true, fails) when mariadbd or galera-4 is missing.
func Start(t testing.TB, n int) *Cluster {
	t.Helper()
	unusable := func(msg string) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatal("galera rig: " + msg + " (CI=true: Galera tests must run)")
		}
		t.Skip(SkipPrefix + msg)
	}
	if _, err := os.Stat(Provider); err != nil {
		unusable("galera-4 is not installed (apt-get install galera-4)")
	}
	for _, bin := range []string{"mariadbd", "mariadb-install-db", "mysqldump"} {
		if _, err := lookPath(bin); err != nil {
			unusable(bin + " is not installed (apt-get install mariadb-server mariadb-client)")
		}
	}
	makeTemplate(t)
	dir, err := os.MkdirTemp("", "lingpai-rig-galera-")
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{t: t, dir: dir, name: filepath.Base(dir)}
	t.Cleanup(func() {
		c.Stop()
		if !t.Failed() {
			_ = os.RemoveAll(dir)
		} else {
			t.Logf("galera rig: logs kept in %s", dir)
		}
	})
	for i := 1; i <= n; i++ {
		nd := &Node{Index: i, Port: freePort(t), gcommPort: freePort(t), istPort: freePort(t),
			dir: filepath.Join(dir, fmt.Sprintf("node%d", i)), c: c}
		if out, err := exec.Command("cp", "-a", template, nd.dir).CombinedOutput(); err != nil {
			t.Fatalf("galera rig: copy template: %v\n%s", err, out)
		}
		c.Nodes = append(c.Nodes, nd)
	}
	start := time.Now()
	// Joiners one at a time: a mysqldump SST makes the donor busy, and a second joiner choosing the
	// same donor would wait for it anyway.
	for i, nd := range c.Nodes {
		nd.start(i == 0)
		c.WaitSynced(i+1, 90*time.Second)
	}
	t.Logf("galera rig: %d nodes synced in %s (ports %s)", n, time.Since(start).Round(100*time.Millisecond), c.ports())
	return c
}

func (c *Cluster) ports() string {
	var p []string
	for _, nd := range c.Nodes {
		p = append(p, fmt.Sprint(nd.Port))
	}
	return strings.Join(p, ",")
}

func lookPath(bin string) (string, error) {
	if p, err := exec.LookPath(bin); err == nil {
		return p, nil
	}
	p := filepath.Join("/usr/sbin", bin)
	if _, err := os.Stat(p); err != nil {
		return "", err
	}
	return p, nil
}

// makeTemplate creates, once per machine, an initialised datadir that nodes copy (install-db takes
// seconds; a copy takes milliseconds). root has an empty password over TCP, which the mysqldump
// SST (wsrep_sst_auth=root:) and the tests use.
func makeTemplate(t testing.TB) {
	t.Helper()
	lock, err := os.OpenFile(template+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) }()
	if _, err := os.Stat(filepath.Join(template, ".lingpai-rig-ready")); err == nil {
		return
	}
	_ = os.RemoveAll(template)
	tmp := template + ".tmp"
	_ = os.RemoveAll(tmp)
	out, err := exec.Command("mariadb-install-db", "--no-defaults", "--user=root", "--datadir="+tmp,
		"--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve",
		"--innodb-log-file-size=8M", "--innodb-buffer-pool-size=32M").CombinedOutput()
	if err != nil {
		t.Fatalf("galera rig: mariadb-install-db: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(tmp, ".lingpai-rig-ready"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, template); err != nil {
		t.Fatal(err)
	}
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

// start runs mariadbd for the node; bootstrap makes it the first node of a new cluster.
func (nd *Node) start(bootstrap bool) {
	t := nd.c.t
	t.Helper()
	bin, _ := lookPath("mariadbd")
	var peers []string
	for _, o := range nd.c.Nodes {
		if o != nd {
			peers = append(peers, fmt.Sprintf("127.0.0.1:%d", o.gcommPort))
		}
	}
	address := "gcomm://" + strings.Join(peers, ",")
	if bootstrap {
		address = "gcomm://"
	}
	_ = os.MkdirAll(filepath.Join(nd.dir, "tmp"), 0o755)
	args := []string{
		"--no-defaults", "--user=root", "--datadir=" + nd.dir,
		"--socket=" + filepath.Join(nd.dir, "mysqld.sock"), fmt.Sprintf("--port=%d", nd.Port), "--bind-address=127.0.0.1",
		"--pid-file=" + filepath.Join(nd.dir, "mysqld.pid"), "--log-error=" + filepath.Join(nd.dir, "error.log"),
		"--tmpdir=" + filepath.Join(nd.dir, "tmp"), "--skip-name-resolve",
		"--innodb-log-file-size=8M", "--innodb-buffer-pool-size=64M", "--innodb-flush-log-at-trx-commit=0",
		"--skip-innodb-doublewrite", "--character-set-server=utf8mb4", "--collation-server=utf8mb4_unicode_ci",
		"--max-connections=200",
		"--wsrep-on=ON", "--wsrep-provider=" + Provider, "--binlog-format=ROW", "--innodb-autoinc-lock-mode=2",
		"--wsrep-cluster-name=" + nd.c.name, fmt.Sprintf("--wsrep-node-name=node%d", nd.Index),
		"--wsrep-node-address=127.0.0.1", "--wsrep-cluster-address=" + address,
		"--wsrep-sst-method=mysqldump", "--wsrep-sst-auth=root:",
		fmt.Sprintf("--wsrep-sst-receive-address=127.0.0.1:%d", nd.Port),
		// A small gcache keeps each node's directory small and still lets a restarted node catch up
		// by IST; short evs timeouts make a dead or frozen node leave the view in seconds, as a test
		// of node loss needs (production keeps the defaults).
		fmt.Sprintf("--wsrep-provider-options=gmcast.listen_addr=tcp://127.0.0.1:%d;ist.recv_addr=127.0.0.1:%d;"+
			"gcache.size=32M;evs.suspect_timeout=PT2S;evs.inactive_timeout=PT4S;evs.inactive_check_period=PT0.5S;"+
			"evs.keepalive_period=PT0.5S;pc.wait_prim_timeout=PT30S", nd.gcommPort, nd.istPort),
	}
	if bootstrap {
		args = append(args, "--wsrep-new-cluster")
	}
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	lf, err := os.OpenFile(filepath.Join(nd.dir, "stdout.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		t.Fatalf("galera rig: node %d: %v", nd.Index, err)
	}
	nd.mu.Lock()
	nd.cmd, nd.log = cmd, lf
	nd.mu.Unlock()
	go func() { _ = cmd.Wait() }() // reap it whatever stops it, so no zombie lingers
}

// DSN returns a go-sql-driver DSN for database db on this node.
func (nd *Node) DSN(db string) string {
	return fmt.Sprintf("root@tcp(127.0.0.1:%d)/%s?timeout=2s", nd.Port, db)
}

// Status returns a wsrep status variable of the node ("" when the node does not answer).
func (nd *Node) Status(name string) string {
	db, err := sql.Open("mysql", nd.DSN(""))
	if err != nil {
		return ""
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var k, v string
	// Not a placeholder: SHOW cannot be a server-side prepared statement. name is the caller's constant.
	if err := db.QueryRowContext(ctx, "SHOW STATUS LIKE '"+strings.ReplaceAll(name, "'", "")+"'").Scan(&k, &v); err != nil {
		return ""
	}
	return v
}

// synced reports whether the node is a ready, synced member of a primary component of size n.
func (nd *Node) synced(n int) bool {
	return nd.Status("wsrep_ready") == "ON" && nd.Status("wsrep_cluster_size") == fmt.Sprint(n) &&
		nd.Status("wsrep_local_state_comment") == "Synced" && nd.Status("wsrep_cluster_status") == "Primary"
}

// WaitSynced waits until the first n nodes all report wsrep_ready=ON, wsrep_cluster_size=n and
// Synced; it fails the test after timeout, with the tail of each node's error log.
func (c *Cluster) WaitSynced(n int, timeout time.Duration) {
	c.t.Helper()
	c.waitNodes(c.Nodes[:n], n, timeout)
}

// waitNodes waits until every given node is synced in a primary component of size n.
func (c *Cluster) waitNodes(nodes []*Node, n int, timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok := true
		for _, nd := range nodes {
			if !nd.synced(n) {
				ok = false
				break
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			for _, nd := range nodes {
				c.t.Logf("node %d: ready=%q size=%q state=%q\n%s", nd.Index, nd.Status("wsrep_ready"),
					nd.Status("wsrep_cluster_size"), nd.Status("wsrep_local_state_comment"), nd.logTail())
			}
			c.t.Fatalf("galera rig: %d node(s) not synced in a cluster of %d after %s", len(nodes), n, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// WaitSize waits until each node of others is synced in a primary component of size n (after a
// node was killed, say).
func (c *Cluster) WaitSize(n int, timeout time.Duration, others ...*Node) {
	c.t.Helper()
	c.waitNodes(others, n, timeout)
}

func (nd *Node) logTail() string {
	b, _ := os.ReadFile(filepath.Join(nd.dir, "error.log"))
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return strings.Join(lines, "\n")
}

func (nd *Node) signal(sig syscall.Signal) {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.cmd != nil && nd.cmd.Process != nil {
		_ = syscall.Kill(-nd.cmd.Process.Pid, sig) // the process group: mariadbd and any SST script
	}
}

// Kill stops the node with SIGKILL (a crash: no clean leave from the cluster) and waits until its
// SQL port is closed.
func (nd *Node) Kill() {
	nd.signal(syscall.SIGCONT) // a frozen process must be able to die
	nd.signal(syscall.SIGKILL)
	nd.waitDown(10 * time.Second)
	nd.mu.Lock()
	if nd.log != nil {
		_ = nd.log.Close()
	}
	nd.cmd, nd.log = nil, nil
	nd.mu.Unlock()
}

// Freeze stops the node with SIGSTOP: it keeps its sockets but answers nothing, like a hung host.
func (nd *Node) Freeze() { nd.signal(syscall.SIGSTOP) }

// Thaw resumes a frozen node.
func (nd *Node) Thaw() { nd.signal(syscall.SIGCONT) }

// Restart starts a stopped (killed) node again, joining the others; it waits until the whole
// cluster of len(Nodes) is synced and returns how long that took.
func (nd *Node) Restart() time.Duration {
	nd.c.t.Helper()
	start := time.Now()
	nd.start(false)
	nd.c.WaitSynced(len(nd.c.Nodes), 90*time.Second)
	return time.Since(start)
}

func (nd *Node) waitDown(d time.Duration) {
	addr := fmt.Sprintf("127.0.0.1:%d", nd.Port)
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return
		}
		_ = c.Close()
	}
	nd.c.t.Errorf("galera rig: node %d still listens after %s", nd.Index, d)
}

// Stop stops every node: SIGTERM, then SIGKILL after 10 s.
func (c *Cluster) Stop() {
	var wg sync.WaitGroup
	for _, nd := range c.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nd.signal(syscall.SIGCONT)
			nd.signal(syscall.SIGTERM)
			addr := fmt.Sprintf("127.0.0.1:%d", nd.Port)
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
				conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
				if err != nil {
					break
				}
				_ = conn.Close()
			}
			nd.signal(syscall.SIGKILL)
			nd.mu.Lock()
			if nd.log != nil {
				_ = nd.log.Close()
			}
			nd.cmd = nil
			nd.mu.Unlock()
		}()
	}
	wg.Wait()
}

// CreateDatabase creates a database (replicated to every node by Galera's total-order DDL) and
// returns its name.
func (c *Cluster) CreateDatabase() string {
	c.t.Helper()
	name := fmt.Sprintf("lingpai_g_%d", time.Now().UnixNano())
	db, err := sql.Open("mysql", c.Nodes[0].DSN(""))
	if err != nil {
		c.t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE DATABASE " + name + " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		c.t.Fatalf("galera rig: create database: %v", err)
	}
	return name
}

// Isolate cuts the node off from the others (gmcast.isolate=1) while its process keeps running:
// it becomes a non-primary component of one, answers pings, and refuses statements with error
// 1047 — the state of a node that has lost the cluster or is still rejoining. Rejoin undoes it.
func (nd *Node) Isolate() { nd.setProviderOption("gmcast.isolate=1") }

// Rejoin ends Isolate; the node comes back by IST. Wait with WaitSynced.
func (nd *Node) Rejoin() { nd.setProviderOption("gmcast.isolate=0") }

func (nd *Node) setProviderOption(opt string) {
	nd.c.t.Helper()
	db, err := sql.Open("mysql", nd.DSN(""))
	if err != nil {
		nd.c.t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("SET GLOBAL wsrep_provider_options = '" + opt + "'"); err != nil {
		nd.c.t.Fatalf("galera rig: node %d: %s: %v", nd.Index, opt, err)
	}
}
