package migrations

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Schema describes the database's tables, columns and indexes as sorted lines, one fact each
// ("column users.phone varchar(32) NULL"), leaving out goose's own tables. Two databases with the
// same lines have the same schema, whatever order their columns were added in; the lines make a
// readable diff when they do not.
func Schema(ctx context.Context, db *sql.DB, dialect string) ([]string, error) {
	var lines []string
	var err error
	switch dialect {
	case "sqlite":
		lines, err = sqliteSchema(ctx, db)
	case "mysql":
		lines, err = mysqlSchema(ctx, db)
	case "postgres":
		lines, err = postgresSchema(ctx, db)
	default:
		err = fmt.Errorf("migrations: unknown dialect %q", dialect)
	}
	if err != nil {
		return nil, fmt.Errorf("migrations: read schema: %w", err)
	}
	sort.Strings(lines)
	return lines, nil
}

func ours(table string) bool { return table != VersionTable && table != lockTable }

func queryStrings(ctx context.Context, db *sql.DB, q string, args ...any) ([][]sql.NullString, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out [][]sql.NullString
	for rows.Next() {
		row := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range row {
			ptrs[i] = &row[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		out = append(out, row)
	}
	return out, rows.Err()
}

func sqliteSchema(ctx context.Context, db *sql.DB) ([]string, error) {
	tables, err := queryStrings(ctx, db, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
	if err != nil {
		return nil, err
	}
	var lines []string
	for _, t := range tables {
		name := t[0].String
		if !ours(name) {
			continue
		}
		lines = append(lines, "table "+name)
		// cid, name, type, notnull, dflt_value, pk
		cols, err := queryStrings(ctx, db, "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?)", name)
		if err != nil {
			return nil, err
		}
		for _, c := range cols {
			null := "NULL"
			if c[2].String == "1" {
				null = "NOT NULL"
			}
			l := fmt.Sprintf("column %s.%s %s %s", name, c[0].String, strings.ToLower(c[1].String), null)
			if c[3].Valid {
				l += " DEFAULT " + c[3].String
			}
			if c[4].String != "0" {
				l += " PRIMARY KEY " + c[4].String
			}
			lines = append(lines, l)
		}
		idx, err := queryStrings(ctx, db, "SELECT name, \"unique\", origin FROM pragma_index_list(?)", name)
		if err != nil {
			return nil, err
		}
		for _, ix := range idx {
			if ix[2].String == "pk" {
				continue // the PRIMARY KEY lines above say it
			}
			icols, err := queryStrings(ctx, db, "SELECT name FROM pragma_index_info(?) ORDER BY seqno", ix[0].String)
			if err != nil {
				return nil, err
			}
			lines = append(lines, indexLine(name, ix[0].String, ix[1].String == "1", icols))
		}
	}
	return lines, nil
}

func indexLine(table, name string, unique bool, cols [][]sql.NullString) string {
	names := make([]string, 0, len(cols))
	for _, c := range cols {
		names = append(names, c[0].String)
	}
	kind := "index"
	if unique {
		kind = "unique index"
	}
	return fmt.Sprintf("%s %s.%s (%s)", kind, table, name, strings.Join(names, ","))
}

// intWidth is the display width MariaDB and MySQL 5.7 print and MySQL 8 does not (tinyint(1),
// which both print, is how booleans are told apart and stays).
var intWidth = regexp.MustCompile(`^((?:big|small|medium)?int)\(\d+\)`)

func mysqlSchema(ctx context.Context, db *sql.DB) ([]string, error) {
	var lines []string
	tables, err := queryStrings(ctx, db, `SELECT table_name, engine, table_collation FROM information_schema.tables
		WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE'`)
	if err != nil {
		return nil, err
	}
	for _, t := range tables {
		if ours(t[0].String) {
			lines = append(lines, fmt.Sprintf("table %s engine=%s collation=%s", t[0].String, t[1].String, t[2].String))
		}
	}
	cols, err := queryStrings(ctx, db, `SELECT table_name, column_name, column_type, is_nullable, column_default, extra
		FROM information_schema.columns WHERE table_schema = DATABASE()`)
	if err != nil {
		return nil, err
	}
	for _, c := range cols {
		if !ours(c[0].String) {
			continue
		}
		null := "NULL"
		if c[3].String == "NO" {
			null = "NOT NULL"
		}
		l := fmt.Sprintf("column %s.%s %s %s", c[0].String, c[1].String, intWidth.ReplaceAllString(c[2].String, "$1"), null)
		// MariaDB reports a NULL default as the string NULL, MySQL as SQL NULL.
		if c[4].Valid && c[4].String != "NULL" {
			l += " DEFAULT " + c[4].String
		}
		if c[5].String != "" {
			l += " " + c[5].String
		}
		lines = append(lines, l)
	}
	idx, err := queryStrings(ctx, db, `SELECT table_name, index_name, non_unique, column_name
		FROM information_schema.statistics WHERE table_schema = DATABASE() ORDER BY table_name, index_name, seq_in_index`)
	if err != nil {
		return nil, err
	}
	type key struct{ table, name string }
	var order []key
	byKey := map[key][][]sql.NullString{}
	unique := map[key]bool{}
	for _, r := range idx {
		k := key{r[0].String, r[1].String}
		if !ours(k.table) {
			continue
		}
		if _, ok := byKey[k]; !ok {
			order = append(order, k)
		}
		byKey[k] = append(byKey[k], []sql.NullString{r[3]})
		unique[k] = r[2].String == "0"
	}
	for _, k := range order {
		lines = append(lines, indexLine(k.table, k.name, unique[k], byKey[k]))
	}
	return lines, nil
}

func postgresSchema(ctx context.Context, db *sql.DB) ([]string, error) {
	var lines []string
	cols, err := queryStrings(ctx, db, `SELECT table_name, column_name, data_type, is_nullable, column_default
		FROM information_schema.columns WHERE table_schema = current_schema()`)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, c := range cols {
		if !ours(c[0].String) {
			continue
		}
		if !seen[c[0].String] {
			seen[c[0].String] = true
			lines = append(lines, "table "+c[0].String)
		}
		null := "NULL"
		if c[3].String == "NO" {
			null = "NOT NULL"
		}
		l := fmt.Sprintf("column %s.%s %s %s", c[0].String, c[1].String, c[2].String, null)
		if c[4].Valid {
			l += " DEFAULT " + c[4].String
		}
		lines = append(lines, l)
	}
	idx, err := queryStrings(ctx, db, `SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = current_schema()`)
	if err != nil {
		return nil, err
	}
	for _, r := range idx {
		if ours(r[0].String) {
			lines = append(lines, "index "+r[1].String)
		}
	}
	return lines, nil
}
