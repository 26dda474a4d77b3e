package is4test

import (
	"bufio"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// bcpColumn is a column of IS4's SQL Server schema: its type token in is4_v4.sql.tmpl (S, TEXT,
// KEY: nvarchar; BOOL: bit; INT, ID: int; DT: datetime2; DTO: datetimeoffset).
type bcpColumn struct{ name, typ string }

var (
	tableLine  = regexp.MustCompile(`^CREATE TABLE (\w+) \((.*)\);$`)
	columnPart = regexp.MustCompile("`?(\\w+)`? @(\\w+)")
)

// BCPExport writes every table of src to dir/<Table>.tsv the way `bcp "SELECT <columns> FROM
// [dbo].[<Table>]" queryout <Table>.tsv -c -C 65001 -t "\t"` does on Windows (is4_v4.bcp.sh):
// UTF-8, tab between fields, CRLF after each row, NULL as an empty field, an empty string as one
// NUL character, bit as 0/1, datetime2 as "2006-01-02 15:04:05.0000000", datetimeoffset with
// its offset after it (" +08:00"). src is a SQLite source (its times are text in UTC).
func BCPExport(t testing.TB, src *Source, dir string) {
	t.Helper()
	tmpl, err := schemas.ReadFile("testdata/is4_v4.sql.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(tmpl), "\n") {
		m := tableLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		var cols []bcpColumn
		for _, c := range columnPart.FindAllStringSubmatch(m[2], -1) {
			cols = append(cols, bcpColumn{c[1], c[2]})
		}
		bcpTable(t, src, dir, m[1], cols)
	}
}

func bcpTable(t testing.TB, src *Source, dir, table string, cols []bcpColumn) {
	t.Helper()
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = src.Q(c.name)
	}
	rows, err := src.DB.Query("SELECT " + strings.Join(names, ", ") + " FROM " + src.Q(table))
	if err != nil {
		t.Fatalf("is4test: bcp %s: %v", table, err)
	}
	defer rows.Close()
	f, err := os.Create(filepath.Join(dir, table+".tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatalf("is4test: bcp %s: %v", table, err)
		}
		fields := make([]string, len(cols))
		for i, c := range cols {
			fields[i] = bcpField(t, c, vals[i])
		}
		fmt.Fprint(w, strings.Join(fields, "\t"), "\r\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
}

func bcpField(t testing.TB, c bcpColumn, v sql.NullString) string {
	t.Helper()
	if !v.Valid {
		return ""
	}
	switch c.typ {
	case "DT", "DTO":
		at, err := time.Parse("2006-01-02 15:04:05.999999999", v.String)
		if err != nil {
			t.Fatalf("is4test: bcp %s: %v", c.name, err)
		}
		if c.typ == "DTO" {
			// A datetimeoffset keeps the offset it was saved with; +08:00 (a server in China
			// saving local time) checks the load converts to UTC rather than dropping it.
			return at.In(time.FixedZone("CST", 8*3600)).Format("2006-01-02 15:04:05.0000000 -07:00")
		}
		return at.UTC().Format("2006-01-02 15:04:05.0000000")
	case "BOOL":
		if v.String == "true" || v.String == "1" {
			return "1"
		}
		return "0"
	case "S", "TEXT", "KEY":
		if v.String == "" {
			return "\x00"
		}
		if strings.ContainsAny(v.String, "\t\r\n") {
			t.Fatalf("is4test: bcp %s: a tab or line break cannot go through bcp -c: %q", c.name, v.String)
		}
	}
	return v.String
}
