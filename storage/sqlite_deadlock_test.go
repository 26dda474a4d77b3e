package storage_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lingpai/lingpai/storage"
	"github.com/lingpai/lingpai/storage/storagetest"
	"github.com/ory/fosite"
)

// TestSQLiteTransactionAndFirstUseOfAStatement: SQLite runs on one connection. A transaction holds
// it; another request meanwhile runs a statement for the first time outside the transaction, and
// then the transaction runs the same statement. With GORM's prepared-statement cache the second
// waited for the first's preparation, which waited for the connection: both hung for good.
func TestSQLiteTransactionAndFirstUseOfAStatement(t *testing.T) {
	st := storagetest.OpenSQLite(t, storage.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	outside := make(chan error, 1)
	err := st.Transaction(ctx, func(ctx context.Context) error {
		if _, err := st.ListClients(ctx); err != nil { // the transaction now holds the connection
			return err
		}
		go func() {
			_, err := st.Client(context.Background(), "first-use") // waits for the connection
			outside <- err
		}()
		time.Sleep(100 * time.Millisecond)
		done := make(chan error, 1)
		go func() { _, err := st.Client(ctx, "first-use"); done <- err }()
		select {
		case err := <-done: // the client does not exist: the point is that the lookup returns
			if !errors.Is(err, fosite.ErrNotFound) {
				return err
			}
			return nil
		case <-time.After(5 * time.Second):
			t.Fatal("the transaction's statement hung behind a preparation waiting for its connection")
			return nil
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-outside:
		if !errors.Is(err, fosite.ErrNotFound) {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the statement outside the transaction never ran")
	}
}
