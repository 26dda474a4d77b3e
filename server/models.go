package server

import "github.com/lingpai/lingpai/internal/ops/janitor"

// Models lists the tables owned by packages outside storage (SMS codes, login sessions...), so
// migrate creates them too. Adding a table is one line here.
func Models() []any { return janitor.Models() }
