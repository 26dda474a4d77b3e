package storage_test

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/lingpai/lingpai/internal/ops/janitor"
	"github.com/lingpai/lingpai/storage"
	"github.com/lingpai/lingpai/storage/storagetest"
)

// TestSchemaRules checks the migrated schema on MariaDB/MySQL against DESIGN.md's schema rules for
// Galera and TiDB: every table has a primary key (Galera cannot certify or replicate deletes on
// tables without one), every table is InnoDB (Galera replicates InnoDB only), no column relies on
// AUTO_INCREMENT (gaps and per-node order on Galera and TiDB) and no column defaults to a zero date
// (TiDB rejects them).
func TestSchemaRules(t *testing.T) {
	s := storagetest.OpenMySQL(t, storage.Options{}, janitor.Models()...)
	db := s.DB(context.Background())
	var tables []struct {
		Name   string `gorm:"column:TABLE_NAME"`
		Engine string `gorm:"column:ENGINE"`
	}
	if err := db.Raw("SELECT TABLE_NAME, ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()").Scan(&tables).Error; err != nil {
		t.Fatal(err)
	}
	if len(tables) < 15 {
		t.Fatalf("only %d tables migrated; the check would prove little", len(tables))
	}
	var withPK []string
	if err := db.Raw(`SELECT TABLE_NAME FROM information_schema.TABLE_CONSTRAINTS
		WHERE TABLE_SCHEMA = DATABASE() AND CONSTRAINT_TYPE = 'PRIMARY KEY'`).Scan(&withPK).Error; err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		if !strings.EqualFold(tb.Engine, "InnoDB") {
			t.Errorf("table %s: engine %s, want InnoDB", tb.Name, tb.Engine)
		}
		if !contains(withPK, tb.Name) {
			t.Errorf("table %s has no primary key", tb.Name)
		}
	}
	var bad []string
	if err := db.Raw(`SELECT CONCAT(TABLE_NAME, '.', COLUMN_NAME, ': ', EXTRA, ' ', COALESCE(COLUMN_DEFAULT, '')) FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = DATABASE() AND (EXTRA LIKE '%auto_increment%' OR COLUMN_DEFAULT LIKE '%0000-00-00%')`).Scan(&bad).Error; err != nil {
		t.Fatal(err)
	}
	for _, b := range bad {
		t.Errorf("column %s: no AUTO_INCREMENT, no zero-date default", b)
	}
	t.Logf("%d tables: all InnoDB with a primary key, no AUTO_INCREMENT, no zero-date default", len(tables))
}

// TestNoClusterUnsafeSQL scans every SQL-looking string literal in the module's non-test Go code
// for statements that do not hold on Galera or TiDB: GET_LOCK/RELEASE_LOCK and LOCK TABLES (not
// replicated across Galera nodes), SERIALIZABLE (TiDB rejects it, error 8048) and a ranged
// FOR UPDATE written by hand (gap locks: not on TiDB, not across Galera nodes).
func TestNoClusterUnsafeSQL(t *testing.T) {
	forbidden := regexp.MustCompile(`(?i)\bGET_LOCK\b|\bRELEASE_LOCK\b|\bLOCK\s+TABLES?\b|\bSERIALIZABLE\b|\bFOR\s+UPDATE\b|LevelSerializable`)
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	files := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		files++
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.BasicLit:
				if n.Kind == token.STRING && forbidden.MatchString(n.Value) {
					t.Errorf("%s: cluster-unsafe SQL %s", strings.TrimPrefix(path, root+"/"), n.Value)
				}
			case *ast.SelectorExpr:
				if n.Sel.Name == "LevelSerializable" {
					t.Errorf("%s: sql.LevelSerializable (TiDB rejects it)", strings.TrimPrefix(path, root+"/"))
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 50 {
		t.Fatalf("scanned only %d files from %s", files, root)
	}
	t.Logf("%d Go files scanned: no GET_LOCK, LOCK TABLES, SERIALIZABLE or hand-written FOR UPDATE", files)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
