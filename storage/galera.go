package storage

import (
	mysqldrv "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"
)

// errSilentAbort is reported when a transaction on a Galera node turns out, just before COMMIT,
// to be no longer open: a conflicting write set from another node aborted it (BF abort) and no
// statement said so. It is a deadlock (1213) to every caller: Transaction runs the closure again,
// and a one-time use in it is a lost race.
var errSilentAbort = &mysqldrv.MySQLError{Number: 1213, SQLState: [5]byte{'4', '0', '0', '0', '1'},
	Message: "storage: galera: transaction aborted by a conflicting write set before COMMIT without an error"}

// commitTx commits tx. On a Galera node it first asks whether the transaction is still open.
// MariaDB 10.11 does not always report a BF abort that hits a transaction between two of its
// statements: the statements after it then run on their own, outside any transaction, and COMMIT
// has nothing to commit and succeeds. Measured on two nodes (opstest, IS4 legacy refresh handle
// raced at two replicas): 2 double redemptions in 390 races, with the text protocol; the
// consume (a compare-and-set) had been rolled back while the token inserts after it committed one
// by one. The check costs one round trip per transaction, on Galera only; what the stray
// statements wrote (tokens nobody was given) is left for the janitor.
func (s *Store) commitTx(tx *gorm.DB) error {
	if s.galera {
		var open int
		// No causal wait: the question is about this session, not about other nodes' writes.
		if err := tx.Raw("SET STATEMENT wsrep_sync_wait = 0 FOR SELECT @@in_transaction").Scan(&open).Error; err != nil {
			return err
		}
		if open != 1 {
			tx.Rollback() // ends the handle as a failed COMMIT would (nothing is left to roll back)
			return errSilentAbort
		}
	}
	return tx.Commit().Error
}
