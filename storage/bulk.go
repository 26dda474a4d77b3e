package storage

import (
	"fmt"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Bulk returns a Store on the same connection pool that does not use prepared statements, for
// long transactions such as an import. Inside a transaction database/sql prepares a statement
// again on the transaction's connection at every call and keeps it until the end, so a
// transaction of 100,000 rows exceeds MySQL's max_prepared_stmt_count (16382 by default).
// The returned Store shares the pool: close the original, not this one.
func (s *Store) Bulk() (*Store, error) {
	sqlDB, err := s.gdb.DB()
	if err != nil {
		return nil, fmt.Errorf("storage: bulk: %w", err)
	}
	var dial gorm.Dialector
	switch s.driver {
	case "sqlite":
		dial = &sqlite.Dialector{Conn: sqlDB}
	case "mysql":
		dial = mysql.New(mysql.Config{Conn: sqlDB})
	default:
		return s, nil
	}
	gdb, err := gorm.Open(dial, &gorm.Config{Logger: logger.Discard, SkipDefaultTransaction: true, NowFunc: s.gdb.NowFunc})
	if err != nil {
		return nil, fmt.Errorf("storage: bulk: %w", err)
	}
	return &Store{gdb: gdb, driver: s.driver, opts: s.opts, now: s.now}, nil
}
