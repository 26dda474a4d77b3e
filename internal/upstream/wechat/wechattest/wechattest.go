// Package wechattest is a fake of WeChat's code-exchange API that behaves like the real one: GET
// with query parameters, WeChat's field names, errcode bodies with HTTP 200 and text/plain,
// single-use codes bound to one app, and unionid only for apps that have one.
package wechattest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

type app struct {
	secret  string
	unionid bool
}

type code struct {
	appid, openid, unionid string
	used                   bool
}

// Fake is a running fake WeChat API.
type Fake struct {
	URL      string
	mu       sync.Mutex
	apps     map[string]app
	codes    map[string]*code
	failNext int
	hang     time.Duration
	requests map[string]int
}

// New starts the fake.
func New(t testing.TB) *Fake {
	f := &Fake{apps: map[string]app{}, codes: map[string]*code{}, requests: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/sns/jscode2session", func(w http.ResponseWriter, r *http.Request) { f.serve(w, r, "js_code", true) })
	mux.HandleFunc("/sns/oauth2/access_token", func(w http.ResponseWriter, r *http.Request) { f.serve(w, r, "code", false) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

// AddApp registers an app; unionid says whether it is bound to an Open Platform account.
func (f *Fake) AddApp(appid, secret string, unionid bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.apps[appid] = app{secret, unionid}
}

// IssueCode is what wx.login() or the OAuth redirect hands the client: a fresh code for openid.
func (f *Fake) IssueCode(appid, openid, unionid string) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	c := "0" + hex.EncodeToString(b)[:31]
	f.mu.Lock()
	defer f.mu.Unlock()
	f.codes[c] = &code{appid: appid, openid: openid, unionid: unionid}
	return c
}

// FailNext answers the next request with errcode (45011 rate limit, -1 busy, ...).
func (f *Fake) FailNext(errcode int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failNext = errcode
}

// Hang delays every answer by d.
func (f *Fake) Hang(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hang = d
}

// Requests counts requests per path.
func (f *Fake) Requests(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests[path]
}

var errmsgs = map[int]string{
	40029: "invalid code", 40163: "code been used", 40013: "invalid appid", 40125: "invalid appsecret",
	45011: "api minute-quota reach limit  mustslower  retry next minute", -1: "system error",
}

func (f *Fake) serve(w http.ResponseWriter, r *http.Request, codeParam string, mini bool) {
	f.mu.Lock()
	f.requests[r.URL.Path]++
	hang, fail := f.hang, f.failNext
	f.failNext = 0
	f.mu.Unlock()
	if hang > 0 {
		select {
		case <-time.After(hang):
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain") // as WeChat does, errors and successes alike
	q := r.URL.Query()
	errBody := func(c int) {
		fmt.Fprintf(w, `{"errcode":%d,"errmsg":"%s, rid: 6745e9a1-2f3b4c5d-0e1f2a3b"}`, c, errmsgs[c])
	}
	if r.Method != http.MethodGet || q.Get("grant_type") != "authorization_code" {
		errBody(40002)
		return
	}
	if fail != 0 {
		errBody(fail)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.apps[q.Get("appid")]
	if !ok {
		errBody(40013)
		return
	}
	if q.Get("secret") != a.secret {
		errBody(40125)
		return
	}
	c, ok := f.codes[q.Get(codeParam)]
	if !ok || c.appid != q.Get("appid") {
		errBody(40029)
		return
	}
	if c.used {
		errBody(40163)
		return
	}
	c.used = true
	union := ""
	if a.unionid && c.unionid != "" {
		union = fmt.Sprintf(`,"unionid":%q`, c.unionid)
	}
	if mini {
		fmt.Fprintf(w, `{"session_key":"tiihtNczf5v6AKRyjwEUhQ==","openid":%q%s}`, c.openid, union)
		return
	}
	fmt.Fprintf(w, `{"access_token":"ACCESS_TOKEN_SECRET","expires_in":7200,"refresh_token":"REFRESH_TOKEN_SECRET","openid":%q,"scope":"snsapi_login"%s}`, c.openid, union)
}
