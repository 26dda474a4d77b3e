package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestDocsUpToDate regenerates docs/cli.md from the command tree and fails when the committed file
// differs: a new flag or command without regenerated docs is caught here.
func TestDocsUpToDate(t *testing.T) {
	var b bytes.Buffer
	root := (&env{}).rootCommand()
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	if err := writeDocs(&b, root); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "docs", "cli.md")
	if os.Getenv("LINGPAI_UPDATE_DOCS") == "1" {
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	have, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run LINGPAI_UPDATE_DOCS=1 go test ./cli -run TestDocsUpToDate)", err)
	}
	if !bytes.Equal(have, b.Bytes()) {
		t.Fatalf("docs/cli.md is stale: run LINGPAI_UPDATE_DOCS=1 go test ./cli -run TestDocsUpToDate")
	}
}
