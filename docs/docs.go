// Package docs embeds the documents the server serves: the admin API's OpenAPI document
// (admin-openapi.yaml, the one source; /admin/openapi.json is it as JSON).
package docs

import _ "embed"

// AdminOpenAPI is docs/admin-openapi.yaml.
//
//go:embed admin-openapi.yaml
var AdminOpenAPI []byte
