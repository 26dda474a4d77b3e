package adminapi

import (
	"net/http"
	"sync"

	"sigs.k8s.io/yaml"

	"github.com/lingpai/lingpai/docs"
)

// openAPIJSON is docs/admin-openapi.yaml as JSON, converted once.
var openAPIJSON = sync.OnceValues(func() ([]byte, error) { return yaml.YAMLToJSON(docs.AdminOpenAPI) })

func (a *API) openAPI(w http.ResponseWriter, r *http.Request) {
	b, err := openAPIJSON()
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}
