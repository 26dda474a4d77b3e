package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ory/fosite"

	"github.com/lingpai/lingpai/internal/session"
)

// caller sends requests to one instance over a keep-alive pool as large as the concurrency.
type caller struct {
	c    *http.Client
	base string
}

func newCaller(base string, conc int) *caller {
	tr := &http.Transport{MaxIdleConns: conc * 2, MaxIdleConnsPerHost: conc * 2, IdleConnTimeout: time.Minute, DisableCompression: true}
	return &caller{c: &http.Client{Transport: tr, Timeout: 30 * time.Second}, base: base}
}

func basic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// do sends one request and returns the body of a 200, or an error naming the status.
func (c *caller) do(method, path, auth, form string) ([]byte, error) {
	var body io.Reader
	if form != "" {
		body = strings.NewReader(form)
	}
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	if form != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := c.c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s: HTTP %d %s", method, path, resp.StatusCode, bytes.TrimSpace(raw))
	}
	return raw, nil
}

func field(raw []byte, name string) (string, error) {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return "", err
	}
	s, _ := m[name].(string)
	if s == "" {
		return "", fmt.Errorf("no %s in %s", name, raw)
	}
	return s, nil
}

// scenario is one measured request shape: prepare builds its per-run state and returns the op.
type scenario struct {
	name    string
	prepare func(ctx context.Context, in *instance, c *caller, conc int) (func(w int) error, error)
}

func tokenOp(c *caller, auth, form string) func(int) error {
	return func(int) error {
		_, err := c.do(http.MethodPost, "/connect/token", auth, form)
		return err
	}
}

var (
	ccGenerated = scenario{"client_credentials, generated secret", func(_ context.Context, in *instance, c *caller, _ int) (func(int) error, error) {
		return tokenOp(c, basic("generated", in.generated), "grant_type=client_credentials&scope=api"), nil
	}}
	ccChosen = scenario{"client_credentials, chosen secret (argon2id)", func(_ context.Context, in *instance, c *caller, _ int) (func(int) error, error) {
		return tokenOp(c, basic("chosen", in.chosenSecret), "grant_type=client_credentials&scope=api"), nil
	}}
	password = scenario{"password (argon2id 19 MiB, t=2)", func(_ context.Context, in *instance, c *caller, _ int) (func(int) error, error) {
		return tokenOp(c, basic("generated", in.generated), "grant_type=password&scope=api&username="+userName+"&password="+userPassword), nil
	}}
	refresh = scenario{"refresh_token (rotation)", func(_ context.Context, in *instance, c *caller, conc int) (func(int) error, error) {
		auth := basic("generated", in.generated)
		rts := make([]string, conc)
		for w := range rts {
			raw, err := c.do(http.MethodPost, "/connect/token", auth, "grant_type=password&scope=api+offline_access&username="+userName+"&password="+userPassword)
			if err != nil {
				return nil, err
			}
			if rts[w], err = field(raw, "refresh_token"); err != nil {
				return nil, err
			}
		}
		return func(w int) error {
			raw, err := c.do(http.MethodPost, "/connect/token", auth, "grant_type=refresh_token&refresh_token="+url.QueryEscape(rts[w]))
			if err != nil {
				return err
			}
			rts[w], err = field(raw, "refresh_token")
			return err
		}, nil
	}}
	introspect = scenario{"introspection of a JWT access token", func(_ context.Context, in *instance, c *caller, _ int) (func(int) error, error) {
		auth := basic("generated", in.generated)
		raw, err := c.do(http.MethodPost, "/connect/token", auth, "grant_type=client_credentials&scope=api")
		if err != nil {
			return nil, err
		}
		at, err := field(raw, "access_token")
		if err != nil {
			return nil, err
		}
		form := "token=" + url.QueryEscape(at)
		return func(int) error {
			raw, err := c.do(http.MethodPost, "/connect/introspect", auth, form)
			if err == nil && !bytes.Contains(raw, []byte(`"active":true`)) {
				err = fmt.Errorf("introspection: %s", raw)
			}
			return err
		}, nil
	}}
	codeExchange = scenario{"authorization_code exchange (+ id_token)", func(ctx context.Context, in *instance, c *caller, _ int) (func(int) error, error) {
		codes, err := in.makeCodes(ctx, *flagCodes)
		if err != nil {
			return nil, err
		}
		var next atomic.Int64
		auth := basic("generated", in.generated)
		return func(int) error {
			i := next.Add(1) - 1
			if int(i) >= len(codes) {
				return errExhausted
			}
			_, err := c.do(http.MethodPost, "/connect/token", auth, "grant_type=authorization_code&redirect_uri="+url.QueryEscape(redirectURI)+"&code="+url.QueryEscape(codes[i]))
			return err
		}, nil
	}}
	smsSignIn = scenario{"sms: send a code + sign in (2 requests)", func(_ context.Context, in *instance, c *caller, _ int) (func(int) error, error) {
		auth := basic("generated", in.generated)
		var next atomic.Int64
		base := time.Now().UnixNano() % 1e6 * 100 // distinct numbers per run (limits are per phone)
		return func(int) error {
			phone := fmt.Sprintf("+86139%08d", base+next.Add(1))
			if _, err := c.do(http.MethodPost, "/connect/sms/code", auth, "phone="+url.QueryEscape(phone)); err != nil {
				return err
			}
			code := in.sms.take(phone)
			if code == "" {
				return fmt.Errorf("no code delivered to %s", phone)
			}
			_, err := c.do(http.MethodPost, "/connect/token", auth, "grant_type=sms&scope=api&phone="+url.QueryEscape(phone)+"&sms="+code)
			return err
		}, nil
	}}
	ccES256 = scenario{"client_credentials, ES256", func(ctx context.Context, in *instance, c *caller, conc int) (func(int) error, error) {
		return ccGenerated.prepare(ctx, in, c, conc)
	}}
	jwks = scenario{"JWKS", func(_ context.Context, _ *instance, c *caller, _ int) (func(int) error, error) {
		return func(int) error {
			_, err := c.do(http.MethodGet, "/.well-known/openid-configuration/jwks", "", "")
			return err
		}, nil
	}}
	discovery = scenario{"discovery", func(_ context.Context, _ *instance, c *caller, _ int) (func(int) error, error) {
		return func(int) error {
			_, err := c.do(http.MethodGet, "/.well-known/openid-configuration", "", "")
			return err
		}, nil
	}}
)

// makeCodes issues n authorization codes through fosite's authorize response, as the consent
// page does after a sign-in, so the benchmark measures the exchange alone.
func (in *instance) makeCodes(ctx context.Context, n int) ([]string, error) {
	cl, err := in.store.Client(ctx, "generated")
	if err != nil {
		return nil, err
	}
	redirect, _ := url.Parse(redirectURI)
	codes := make([]string, n)
	var (
		wg       sync.WaitGroup
		firstErr error
		mu       sync.Mutex
	)
	const makers = 4
	for m := range makers {
		wg.Go(func() {
			for i := m; i < n; i += makers {
				ar := fosite.NewAuthorizeRequest()
				ar.Client, ar.RedirectURI, ar.State = cl, redirect, "bench-state-0123456789"
				ar.ResponseTypes = fosite.Arguments{"code"}
				ar.RequestedScope = fosite.Arguments{"openid", "api"}
				ar.GrantScope("openid")
				ar.GrantScope("api")
				ar.Form = url.Values{"redirect_uri": {redirectURI}, "client_id": {"generated"}, "response_type": {"code"}, "scope": {"openid api"}}
				sess := session.New()
				sess.SetSubject(in.userID)
				resp, err := in.app.Provider.NewAuthorizeResponse(ctx, ar, sess)
				if err != nil {
					mu.Lock()
					firstErr = fmt.Errorf("authorize: %w", err)
					mu.Unlock()
					return
				}
				codes[i] = resp.GetParameters().Get("code")
			}
		})
	}
	wg.Wait()
	return codes, firstErr
}
