package opstest

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestGracefulShutdown sends SIGTERM to a real `lingpai serve` with requests in flight: password
// grants (argon2 makes them slow) and one request whose body is still arriving. Every in-flight
// request must complete with 200, new connections must be refused at once, and the process must
// exit 0 well within server.shutdown_timeout.
func TestGracefulShutdown(t *testing.T) {
	addr := freeAddr(t)
	adminAddr := freeAddr(t)
	// The admin listener and a busy janitor run too: shutdown must stop them as well.
	env := baseEnv(addr, "sqlite", filepath.Join(t.TempDir(), "lingpai.db"), "LINGPAI_SERVER_SHUTDOWN_TIMEOUT=10s",
		"LINGPAI_SERVER_ADMIN_ADDR="+adminAddr, "LINGPAI_JANITOR_INTERVAL=50ms")
	out := run(t, env, "client", "create", "--id", "app", "--grant-types", "password,client_credentials", "--scopes", "api1")
	secret := clientSecret(t, out)
	run(t, env, "user", "create", "--username", "alice", "--password", "alice-password-1")
	p := startServe(t, env)
	if s := get(t, "http://"+adminAddr+"/metrics"); s != 200 {
		t.Fatalf("admin /metrics: %d", s)
	}
	if s := get(t, p.URL+"/metrics"); s != 404 {
		t.Fatalf("public /metrics with server.admin_addr set: %d, want 404", s)
	}

	// The slow request: headers and half the body now, the rest after SIGTERM.
	body := url.Values{"grant_type": {"client_credentials"}, "client_id": {"app"}, "client_secret": {secret}}.Encode()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /connect/token HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s",
		addr, len(body), body[:len(body)/2])

	// Password grants, each held open half-sent like the slow request, so all n are being served
	// (blocked reading their bodies) when the signal arrives; finished after it, they run argon2
	// while the server drains.
	const n = 6
	form := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-password-1"}}.Encode()
	auth := base64.StdEncoding.EncodeToString([]byte("app:" + secret))
	conns := make([]net.Conn, n)
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "POST /connect/token HTTP/1.1\r\nHost: %s\r\nAuthorization: Basic %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s",
			addr, auth, len(form), form[:len(form)/2])
		conns[i] = c
	}
	// SIGTERM only once the server is serving them: a request still in the accept backlog when the
	// listener closes is refused, which is right but is not what this test is about.
	waitInFlight(t, "http://"+adminAddr+"/metrics", n+1)
	sent := time.Now()
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	// New connections are refused while the slow request is still open.
	refused := false
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			refused = true
			break
		}
		c.Close()
	}
	if !refused {
		t.Fatal("new connections still accepted after SIGTERM")
	}

	if _, err := io.WriteString(conn, body[len(body)/2:]); err != nil {
		t.Fatalf("finish slow body: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("slow request got no answer: %v", err)
	}
	var tok map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if resp.StatusCode != 200 || tok["access_token"] == nil {
		t.Fatalf("slow in-flight request: %d %v", resp.StatusCode, tok)
	}

	for i, c := range conns {
		if _, err := io.WriteString(c, form[len(form)/2:]); err != nil {
			t.Fatalf("finish password grant %d: %v", i, err)
		}
	}
	for i, c := range conns {
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("in-flight password grant %d got no answer: %v", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("in-flight password grant %d answered %d, want 200", i, resp.StatusCode)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code, err := p.wait(ctx)
	if err != nil {
		t.Fatalf("lingpai did not exit within server.shutdown_timeout: %v", err)
	}
	if code != 0 {
		t.Fatalf("exit code %d, want 0\n%s", code, p.Stderr.String())
	}
	t.Logf("exited 0 %s after SIGTERM", time.Since(sent).Round(time.Millisecond))
	if !strings.Contains(p.Stderr.String(), `"msg":"stopped"`) {
		t.Fatalf("no clean stop logged:\n%s", p.Stderr.String())
	}
}

// clientSecret finds the generated secret in `lingpai client create` output.
func clientSecret(t *testing.T, out string) string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if _, v, ok := strings.Cut(line, "secret"); ok {
			v = strings.TrimSpace(strings.TrimLeft(v, ": ="))
			if f := strings.Fields(v); len(f) > 0 && len(f[0]) >= 20 {
				return f[0]
			}
		}
	}
	t.Fatalf("no secret in client create output:\n%s", out)
	return ""
}

// TestKeyRotatedAuditEvent runs `lingpai keys rotate` and checks the key.rotated event names the
// kid and never carries key material.
func TestKeyRotatedAuditEvent(t *testing.T) {
	env := baseEnv(freeAddr(t), "sqlite", filepath.Join(t.TempDir(), "lingpai.db"))
	cmd := exec.Command(binary, "keys", "rotate")
	cmd.Env = env
	cmd.Dir = t.TempDir()
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("keys rotate: %v %s", err, stderr.String())
	}
	var rec map[string]any
	for _, line := range strings.Split(stderr.String(), "\n") {
		var r map[string]any
		if json.Unmarshal([]byte(line), &r) == nil && r["event"] == "key.rotated" {
			rec = r
		}
	}
	if rec == nil || rec["kid"] == "" || !strings.Contains(stdout.String(), rec["kid"].(string)) {
		t.Fatalf("no key.rotated event with the new kid:\n%s\n%s", stderr.String(), stdout.String())
	}
	for _, k := range []string{`"d"`, `"p"`, "PRIVATE"} {
		if strings.Contains(stderr.String(), k) {
			t.Fatalf("key material in the log: %s", stderr.String())
		}
	}
}

// TestGC runs `lingpai gc` and checks it prints a count per table.
func TestGC(t *testing.T) {
	env := baseEnv(freeAddr(t), "sqlite", filepath.Join(t.TempDir(), "lingpai.db"))
	out := run(t, env, "gc")
	for _, want := range []string{"access_tokens", "refresh_tokens", "throttle_counters", "total"} {
		if !strings.Contains(out, want) {
			t.Fatalf("gc output lacks %s:\n%s", want, out)
		}
	}
}

// waitInFlight polls the in-flight gauge until at least n requests are being served.
func waitInFlight(t *testing.T, metricsURL string, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		resp, err := http.Get(metricsURL)
		if err != nil {
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, line := range strings.Split(string(body), "\n") {
			var v float64
			if _, err := fmt.Sscanf(line, "lingpai_http_requests_in_flight %g", &v); err == nil && int(v) >= n {
				return
			}
		}
	}
	t.Fatalf("fewer than %d requests in flight after 10s", n)
}
