package is4import

import (
	"context"
	"testing"

	"github.com/lingpai/lingpai/internal/is4import/is4test"
)

// TestSourceIsReadOnly: the connection the importer reads through refuses writes, on every driver.
func TestSourceIsReadOnly(t *testing.T) {
	for _, driver := range []string{"sqlite", "mysql", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			ctx := context.Background()
			src := is4test.New(t, driver)
			is4test.Seed(t, src)
			o := &Options{SourceDriver: driver, SourceDSN: src.DSN}
			if err := o.validate(); err != nil {
				t.Fatal(err)
			}
			s, err := openSource(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			defer s.close()
			if _, err := s.tx.ExecContext(ctx, "DELETE FROM "+s.t("PersistedGrants")); err == nil {
				t.Fatal("a DELETE through the source connection succeeded")
			}
		})
	}
}
