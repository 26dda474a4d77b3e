package storage

import (
	"fmt"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/mysql"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
)

// Bulk returns a Store on the same connection pool that does not use prepared statements, for
// long transactions such as an import. Inside a transaction database/sql prepares a statement
// again on the transaction's connection at every call and keeps it until the end, so a
// transaction of 100,000 rows exceeds MySQL's max_prepared_stmt_count (16382 by default).
// The returned Store shares the current pool (no failover of its own): close the original, not
// this one.
func (s *Store) Bulk() (*Store, error) {
	sqlDB, err := s.gdb().DB()
	if err != nil {
		return nil, fmt.Errorf("storage: bulk: %w", err)
	}
	var dial gorm.Dialector
	switch s.driver {
	case "sqlite":
		dial = &sqlite.Dialector{Conn: sqlDB}
	case "mysql":
		dial = mysql.New(mysql.Config{Conn: sqlDB})
	case "postgres":
		dial = postgres.New(postgres.Config{Conn: sqlDB})
	default:
		return s, nil
	}
	cfg := gormConfig(s.driver, false)
	cfg.PrepareStmt = false
	gdb, err := gorm.Open(dial, cfg)
	if err != nil {
		return nil, fmt.Errorf("storage: bulk: %w", err)
	}
	b := &Store{pools: &pools{all: []*gorm.DB{gdb}}, driver: s.driver, galera: s.galera, opts: s.opts, now: s.now}
	b.clients.ttl = s.clients.ttl
	return b, nil
}
