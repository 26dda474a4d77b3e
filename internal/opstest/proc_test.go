package opstest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// binary is the lingpai executable built once in TestMain.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lingpai-opstest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "lingpai")
	build := exec.Command("go", "build", "-o", binary, "github.com/lingpai/lingpai/cmd/lingpai")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build lingpai:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// freeAddr returns a loopback address nobody listens on (a small race with other processes is
// acceptable in tests).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// lingpaiProc is a running `lingpai serve`.
type lingpaiProc struct {
	t      *testing.T
	URL    string
	Env    []string
	Cmd    *exec.Cmd
	Stderr *syncBuf
	done   chan struct{}
	err    error
}

// baseEnv configures a lingpai through LINGPAI_* variables only, as the container does.
func baseEnv(addr, driver, dsn string, extra ...string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir(),
		"LINGPAI_SERVER_ADDR=" + addr, "LINGPAI_SERVER_ISSUER=http://" + addr,
		"LINGPAI_DATABASE_DRIVER=" + driver, "LINGPAI_DATABASE_DSN=" + dsn,
		"LINGPAI_LOG_FORMAT=json", "LINGPAI_LOG_LEVEL=info",
		"LINGPAI_SERVER_ADMIN_ADDR=127.0.0.1:0", // processes run side by side: not the default 9090
	}
	return append(env, extra...)
}

// run runs a one-shot lingpai command with env and returns its stdout.
func run(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = env
	cmd.Dir = t.TempDir()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("lingpai %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

// startServe starts `lingpai serve` and waits until /healthz answers.
func startServe(t *testing.T, env []string) *lingpaiProc {
	t.Helper()
	p := &lingpaiProc{t: t, Env: env, Stderr: &syncBuf{}, done: make(chan struct{})}
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "LINGPAI_SERVER_ADDR="); ok {
			p.URL = "http://" + v
		}
	}
	p.Cmd = exec.Command(binary, "serve")
	p.Cmd.Env = env
	p.Cmd.Dir = t.TempDir()
	p.Cmd.Stderr = p.Stderr
	if err := p.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.Cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.Cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("lingpai log:\n%s", p.Stderr.String())
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			t.Fatalf("lingpai exited early: %v\n%s", p.err, p.Stderr.String())
		default:
		}
		resp, err := http.Get(p.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("lingpai did not come up\n%s", p.Stderr.String())
	return nil
}

// wait waits for the process to exit and returns its exit code.
func (p *lingpaiProc) wait(ctx context.Context) (int, error) {
	select {
	case <-p.done:
		if p.Cmd.ProcessState == nil {
			return -1, p.err
		}
		return p.Cmd.ProcessState.ExitCode(), nil
	case <-ctx.Done():
		return -1, ctx.Err()
	}
}

func mustGet(t *testing.T, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}
