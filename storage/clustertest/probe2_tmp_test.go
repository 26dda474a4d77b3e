package clustertest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	mysqldrv "github.com/go-sql-driver/mysql"

	"github.com/lingpai/lingpai/internal/testutil/galerarig"
)

func TestProbeRawUpsert(t *testing.T) {
	c := galerarig.Start(t, 2)
	db := c.CreateDatabase()
	open := func(i int, params string) *sql.DB {
		d, err := sql.Open("mysql", c.Nodes[i].DSN(db)+params)
		must(t, err)
		d.SetMaxOpenConns(20)
		return d
	}
	setup := open(0, "")
	_, err := setup.Exec("CREATE TABLE tc (k varchar(64) NOT NULL, b bigint NOT NULL, n bigint NOT NULL, PRIMARY KEY (k, b)) ENGINE=InnoDB")
	must(t, err)
	variants := []struct {
		name   string
		params string
		iso    sql.IsolationLevel
		read   bool
	}{
		{"RC sync3 upsert+select prepared", "&wsrep_sync_wait=3", sql.LevelReadCommitted, true},
		{"RC sync3 upsert+select text", "&wsrep_sync_wait=3&interpolateParams=true", sql.LevelReadCommitted, true},
	}
	for vi, v := range variants {
		pools := [2]*sql.DB{open(0, v.params), open(1, v.params)}
		lost, dups, retries, notIn := 0, 0, 0, 0
		for r := range 12 {
			key := fmt.Sprintf("v%d-r%d", vi, r)
			var mu sync.Mutex
			var totals []int
			var wg sync.WaitGroup
			for i := range 40 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for try := 0; try < 50; try++ {
						n, err := func() (int, error) {
							tx, err := pools[i%2].BeginTx(context.Background(), &sql.TxOptions{Isolation: v.iso})
							if err != nil {
								return 0, err
							}
							defer tx.Rollback()
							if _, err := tx.Exec("INSERT INTO tc (k, b, n) VALUES (?, 1, 1) ON DUPLICATE KEY UPDATE n = n + 1", key); err != nil {
								return 0, err
							}
							var n int
							if v.read {
								if err := tx.QueryRow("SELECT n FROM tc WHERE k = ? AND b = 1", key).Scan(&n); err != nil {
									return 0, err
								}
							}
							var in int
							if err := tx.QueryRow("SELECT @@in_transaction").Scan(&in); err != nil {
								return 0, err
							}
							if in != 1 {
								mu.Lock()
								notIn++
								mu.Unlock()
							}
							return n, tx.Commit()
						}()
						var me *mysqldrv.MySQLError
						if errors.As(err, &me) && me.Number == 1213 {
							mu.Lock()
							retries++
							mu.Unlock()
							continue
						}
						if err != nil {
							t.Errorf("%s: %v", v.name, err)
							return
						}
						mu.Lock()
						totals = append(totals, n)
						mu.Unlock()
						return
					}
				}()
			}
			wg.Wait()
			var final int
			must(t, pools[1].QueryRow("SELECT n FROM tc WHERE k = ? AND b = 1", key).Scan(&final))
			if final != len(totals) {
				lost += len(totals) - final
			}
			slices.Sort(totals)
			for i := 1; i < len(totals); i++ {
				if v.read && totals[i] == totals[i-1] {
					dups++
				}
			}
		}
		t.Logf("%s: 12 rounds × 40: lost %d, duplicate totals %d, 1213 retries %d, not in a transaction before COMMIT %d", v.name, lost, dups, retries, notIn)
	}
}
