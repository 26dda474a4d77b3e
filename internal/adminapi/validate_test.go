package adminapi_test

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/lingpai/lingpai/internal/testutil/lingpaitest"
)

func validate(t *testing.T, req *http.Request, body *bytes.Reader, resp *lingpaitest.Response) {}
