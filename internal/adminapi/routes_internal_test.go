package adminapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/lingpai/lingpai/docs"
)

// TestOpenAPICoversEveryRoute: every route the API serves is an operation of the document and
// every operation of the document is a route, so neither can be added alone.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	raw, err := yaml.YAMLToJSON(docs.AdminOpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for m := range ops {
			if m != "parameters" {
				documented[strings.ToUpper(m)+" "+path] = true
			}
		}
	}
	served := map[string]bool{}
	for path, byMethod := range (&API{}).table() {
		for m := range byMethod {
			served[m+" /admin"+path] = true
		}
	}
	var missing, extra []string
	for k := range served {
		if !documented[k] {
			missing = append(missing, k)
		}
	}
	for k := range documented {
		if !served[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 || len(extra) > 0 {
		t.Fatalf("routes not in docs/admin-openapi.yaml: %v; documented but not served: %v", missing, extra)
	}
	t.Logf("%d operations, each both served and documented", len(served))
}

// TestOpenAPIJSONIsTheYAML: /admin/openapi.json is docs/admin-openapi.yaml, converted.
func TestOpenAPIJSONIsTheYAML(t *testing.T) {
	rec := httptest.NewRecorder()
	(&API{}).openAPI(rec, httptest.NewRequest(http.MethodGet, "/admin/openapi.json", nil))
	var got, want map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	raw, _ := yaml.YAMLToJSON(docs.AdminOpenAPI)
	_ = json.Unmarshal(raw, &want)
	if got["openapi"] != "3.1.0" || len(got["paths"].(map[string]any)) != len(want["paths"].(map[string]any)) {
		t.Fatalf("served document differs: openapi=%v, %d paths", got["openapi"], len(got["paths"].(map[string]any)))
	}
}
