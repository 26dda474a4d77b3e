package adminapi

import "net/http"

func (a *API) openAPI(w http.ResponseWriter, r *http.Request) {}
