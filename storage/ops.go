package storage

import (
	"database/sql"
	"fmt"
)

// SQLDB exposes the connection pool so operations code can report its statistics (metrics).
func (s *Store) SQLDB() (*sql.DB, error) {
	db, err := s.gdb().DB()
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	return db, nil
}
