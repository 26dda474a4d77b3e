package adminapi

import "net/http"

func (a *API) userRoutes(route func(method, path, scope string, h http.HandlerFunc)) {}
