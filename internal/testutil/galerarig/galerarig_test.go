package galerarig_test

import (
	"database/sql"
	"testing"
	"time"

	"github.com/lingpai/lingpai/internal/testutil/galerarig"
)

// TestGaleraRig: a 3-node cluster replicates a write from node 1 to node 3, survives kill -9 of a
// node (the others stay a primary component of 2), takes the node back (IST), and drops a frozen
// node from the view within the rig's evs timeouts.
func TestGaleraRig(t *testing.T) {
	c := galerarig.Start(t, 3)
	n1, n2, n3 := c.Nodes[0], c.Nodes[1], c.Nodes[2]
	name := c.CreateDatabase()
	open := func(nd *galerarig.Node) *sql.DB {
		db, err := sql.Open("mysql", nd.DSN(name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		return db
	}
	d1, d3 := open(n1), open(n3)
	if _, err := d1.Exec("CREATE TABLE kv (k VARCHAR(16) PRIMARY KEY, v INT NOT NULL) ENGINE=InnoDB"); err != nil {
		t.Fatal(err)
	}
	if _, err := d1.Exec("INSERT INTO kv VALUES ('a', 1)"); err != nil {
		t.Fatal(err)
	}
	var v int
	if _, err := d3.Exec("SET SESSION wsrep_sync_wait = 1"); err != nil {
		t.Fatal(err)
	}
	if err := d3.QueryRow("SELECT v FROM kv WHERE k = 'a'").Scan(&v); err != nil || v != 1 {
		t.Fatalf("node 3 reads %d, %v; want the row written at node 1", v, err)
	}

	n3.Kill()
	start := time.Now()
	c.WaitSize(2, 30*time.Second, n1, n2)
	t.Logf("kill -9 node 3: nodes 1 and 2 are a primary component of 2 after %s", time.Since(start).Round(100*time.Millisecond))
	if _, err := d1.Exec("UPDATE kv SET v = 2 WHERE k = 'a'"); err != nil {
		t.Fatalf("write at node 1 with node 3 dead: %v", err)
	}
	took := n3.Restart()
	t.Logf("node 3 restarted and synced in %s", took.Round(100*time.Millisecond))
	d3b := open(n3)
	if _, err := d3b.Exec("SET SESSION wsrep_sync_wait = 1"); err != nil {
		t.Fatal(err)
	}
	if err := d3b.QueryRow("SELECT v FROM kv WHERE k = 'a'").Scan(&v); err != nil || v != 2 {
		t.Fatalf("restarted node 3 reads %d, %v; want the write made while it was dead", v, err)
	}

	n2.Freeze()
	start = time.Now()
	c.WaitSize(2, 30*time.Second, n1, n3)
	t.Logf("SIGSTOP node 2: nodes 1 and 3 dropped it from the view after %s", time.Since(start).Round(100*time.Millisecond))
	n2.Thaw()
	start = time.Now()
	c.WaitSynced(3, 60*time.Second)
	t.Logf("SIGCONT node 2: back in a synced cluster of 3 after %s", time.Since(start).Round(100*time.Millisecond))
}
