package loadtest

// The browser sign-in flow and the replica sampling.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
)

// browser signs in as a browser would: the authorize request sends it to the sign-in page, the
// sign-in resumes the authorize request, which redirects to the client with a code the client
// then exchanges.
func (d *driver) browser(ctx context.Context, target string) error {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: d.cfg.Timeout, Transport: d.http.Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	state := fmt.Sprintf("state-%d-%d", d.seq.Add(1), rand.Int64())
	q := url.Values{"client_id": {d.cfg.ClientID}, "response_type": {"code"}, "redirect_uri": {d.cfg.RedirectURI},
		"scope": {"openid"}, "state": {state}, "nonce": {state}}
	get := func(u string) (*http.Response, string, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		resp, err := c.Do(req)
		if err != nil {
			return nil, "", err
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return resp, string(raw), nil
	}
	resp, _, err := get(target + "/connect/authorize?" + q.Encode()) //nolint:bodyclose // get reads and closes the body
	if err != nil {
		return err
	}
	login := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(login, "/account/login") {
		return fmt.Errorf("authorize: %d to %q", resp.StatusCode, login)
	}
	resp, page, err := get(target + login) //nolint:bodyclose // get reads and closes the body
	if err != nil {
		return err
	}
	m := csrfRE.FindStringSubmatch(page)
	if resp.StatusCode != 200 || m == nil {
		return fmt.Errorf("login page: %d", resp.StatusCode)
	}
	lu, _ := url.Parse(login)
	form := url.Values{"username": {d.cfg.Username}, "password": {d.cfg.Password}, "csrf_token": {m[1]}, "return_to": {lu.Query().Get("return_to")}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, target+"/account/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err = c.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	back := resp.Header.Get("Location")
	if resp.StatusCode/100 != 3 || !strings.HasPrefix(back, "/connect/authorize") {
		return fmt.Errorf("sign-in: %d to %q", resp.StatusCode, back)
	}
	resp, _, err = get(target + back) //nolint:bodyclose // get reads and closes the body
	if err != nil {
		return err
	}
	cb, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode/100 != 3 || cb == nil || cb.Query().Get("code") == "" || cb.Query().Get("state") != state {
		return fmt.Errorf("authorize after sign-in: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, err = d.token(ctx, target, url.Values{"grant_type": {"authorization_code"}, "code": {cb.Query().Get("code")}, "redirect_uri": {d.cfg.RedirectURI}})
	return err
}

// sample reads a replica's process and pool figures from its /metrics.
func (d *driver) sample(ctx context.Context, target string) (Sample, error) {
	base := target
	if m, ok := d.cfg.Metrics[target]; ok {
		base = m
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	resp, err := d.http.Do(req)
	if err != nil {
		return Sample{}, err
	}
	defer resp.Body.Close()
	s := Sample{Target: target}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		name, val, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			continue
		}
		switch {
		case name == "process_resident_memory_bytes":
			s.RSSBytes = v
		case name == "go_goroutines":
			s.Goroutines = v
		case strings.HasPrefix(name, "go_sql_open_connections"):
			s.DBOpenConns = v
		case strings.HasSuffix(name, "http_requests_in_flight"):
			s.InFlight = v
		}
	}
	return s, sc.Err()
}
