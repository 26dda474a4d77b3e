package server_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/lingpai/lingpai/config"
	"github.com/lingpai/lingpai/internal/testutil/lingpaitest"
	"github.com/lingpai/lingpai/internal/upstream/smsgw"
	"github.com/lingpai/lingpai/internal/upstream/smsgw/smsgwtest"
	"github.com/lingpai/lingpai/internal/upstream/wechat"
	"github.com/lingpai/lingpai/internal/upstream/wechat/wechattest"
)

// faultFront sits in front of an upstream fake on a fixed address and breaks it on demand:
// refused (nothing listens), frozen (connections accepted, never answered), slow (answered after
// a delay within the caller's timeout), garbage (a reply that is not HTTP, or HTTP whose body is
// not the JSON the client parses).
type faultFront struct {
	t      *testing.T
	addr   string
	target string
	mu     sync.Mutex
	ln     net.Listener
	mode   string
	delay  time.Duration
	conns  []net.Conn
}

func newFaultFront(t *testing.T, target string) *faultFront {
	t.Helper()
	f := &faultFront{t: t, target: target, mode: "pass"}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = ln.Addr().String()
	f.listen(ln)
	t.Cleanup(func() { f.set("refused", 0) })
	return f
}

func (f *faultFront) URL() string { return "http://" + f.addr }

func (f *faultFront) listen(ln net.Listener) {
	f.ln = ln
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go f.handle(c)
		}
	}()
}

// set switches the mode; refused closes the listener, any other mode listens again on the same
// address.
func (f *faultFront) set(mode string, delay time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mode, f.delay = mode, delay
	for _, c := range f.conns {
		_ = c.Close() // kept-alive and frozen connections end with their mode
	}
	f.conns = nil
	// Let the client's transport see its idle connections closed before the next request, as
	// it would after a gateway's idle timeout.
	time.Sleep(50 * time.Millisecond)
	if mode == "refused" {
		if f.ln != nil {
			_ = f.ln.Close()
			f.ln = nil
		}
		return
	}
	if f.ln == nil {
		ln, err := net.Listen("tcp", f.addr)
		if err != nil {
			f.t.Fatal(err)
		}
		f.listen(ln)
	}
}

func (f *faultFront) handle(c net.Conn) {
	f.mu.Lock()
	mode, delay := f.mode, f.delay
	f.conns = append(f.conns, c)
	f.mu.Unlock()
	switch mode {
	case "frozen":
		return // held open until the mode changes: the client must give up on its own
	case "garbage":
		_, _ = http.ReadRequest(bufio.NewReader(c))
		_, _ = c.Write([]byte("\x00\x17garbage, not HTTP\r\n\r\n"))
		_ = c.Close()
		return
	case "garbage-json":
		_, _ = http.ReadRequest(bufio.NewReader(c))
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 22\r\nConnection: close\r\n\r\n<html>not json</html>\n")
		_ = c.Close()
		return
	case "slow":
		time.Sleep(delay)
	}
	up, err := net.Dial("tcp", f.target)
	if err != nil {
		_ = c.Close()
		return
	}
	go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
	_, _ = io.Copy(c, up)
	_ = c.Close()
}

const upstreamTimeout = time.Second

// TestUpstreamFaultsAnswer503WithinTimeout: the SMS gateway and WeChat refused, frozen and
// answering garbage give 503 temporarily_unavailable with Retry-After within their configured
// timeouts (sms.webhook.timeout, wechat.timeout), and consume nothing: the same phone can ask
// again at once, the same WeChat code still signs in. A slow upstream within its timeout works.
func TestUpstreamFaultsAnswer503WithinTimeout(t *testing.T) {
	hook := smsgwtest.NewWebhook(t, "hook-secret")
	fake := wechattest.New(t)
	fake.AddApp("wxmini", "mini-secret", true)
	hookURL, _ := url.Parse(hook.URL)
	fakeURL, _ := url.Parse(fake.URL)
	smsFront, wxFront := newFaultFront(t, hookURL.Host), newFaultFront(t, fakeURL.Host)
	autoRegister := true
	s := lingpaitest.Start(t, "sqlite", func(c *config.Config) {
		c.Grants.Enabled = append(c.Grants.Enabled, "sms", "wechat")
		c.SMS = &config.SMS{Config: smsgw.Config{Provider: "webhook", Webhook: smsgw.Webhook{URL: smsFront.URL(), Secret: "hook-secret", Timeout: upstreamTimeout}},
			AutoRegister: true}
		c.SMS.Config.SetDefaults()
		smsDefaults(c.SMS)
		c.SMS.ResendInterval = time.Second
		c.SMS.HourlyLimit, c.SMS.DailyLimit = 100, 100
		c.WeChat = &wechat.Config{APIBaseURL: wxFront.URL(), Timeout: upstreamTimeout, AutoRegister: &autoRegister,
			Apps: []wechat.App{{ID: "shop", AppID: "wxmini", Secret: "mini-secret", Type: "miniprogram"}}}
	})
	secret := s.Client("app", []string{"sms", "wechat"}, []string{"openid", "phone"})
	within := upstreamTimeout + 500*time.Millisecond
	check := func(t *testing.T, what string, a *lingpaitest.Response, took time.Duration, want int) {
		t.Helper()
		t.Logf("%s: %d in %s", what, a.Status, took.Round(time.Millisecond))
		if a.Status != want || took > within {
			t.Fatalf("%s: %d after %s: %s (want %d within %s)", what, a.Status, took, a.Raw, want, within)
		}
		if want == http.StatusServiceUnavailable && (a.Str("error") != "temporarily_unavailable" || a.Header.Get("Retry-After") == "") {
			t.Fatalf("%s: %s, Retry-After %q", what, a.Raw, a.Header.Get("Retry-After"))
		}
	}
	faults := []struct {
		mode  string
		delay time.Duration
		want  int
	}{
		{"refused", 0, 503}, {"frozen", 0, 503}, {"garbage", 0, 503}, {"garbage-json", 0, 503},
		{"slow", upstreamTimeout / 2, 200},
	}
	phone := "+8613900139000"
	for _, f := range faults {
		// The webhook gateway takes any 2xx as sent: it has no body to parse.
		smsMode := f.mode != "garbage-json"
		_ = smsMode && t.Run("sms gateway "+f.mode, func(t *testing.T) {
			time.Sleep(1100 * time.Millisecond) // sms.resend_interval since the last code
			smsFront.set(f.mode, f.delay)
			start := time.Now()
			a := s.Post("/connect/sms/code", url.Values{"phone": {phone}}, "app", secret)
			check(t, "sms/code", a, time.Since(start), f.want)
			smsFront.set("pass", 0)
			if f.want == 503 {
				// Nothing consumed: no resend interval, no sending limit; a code comes at once.
				if a := s.Post("/connect/sms/code", url.Values{"phone": {phone}}, "app", secret); a.Status != 200 {
					t.Fatalf("asking again once the gateway is back: %d %s", a.Status, a.Raw)
				}
			}
			code := hook.Last(phone)
			if tok := s.Token("app", secret, url.Values{"grant_type": {"sms"}, "phone": {phone}, "sms": {code}}); tok.Status != 200 {
				t.Fatalf("the code sent after the fault: %d %s", tok.Status, tok.Raw)
			}
		})
		t.Run("wechat "+f.mode, func(t *testing.T) {
			code := fake.IssueCode("wxmini", "o-"+f.mode, "u-"+f.mode)
			form := url.Values{"grant_type": {"wechat"}, "appid": {"wxmini"}, "code": {code}}
			wxFront.set(f.mode, f.delay)
			start := time.Now()
			a := s.Token("app", secret, form)
			check(t, "wechat grant", a, time.Since(start), f.want)
			wxFront.set("pass", 0)
			if f.want == 503 && f.mode != "garbage-json" {
				// WeChat never saw the code: it still signs the user in.
				if tok := s.Token("app", secret, form); tok.Status != 200 {
					t.Fatalf("the same code once WeChat is back: %d %s", tok.Status, tok.Raw)
				}
			}
		})
	}
}
