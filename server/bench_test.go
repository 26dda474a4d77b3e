package server_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lingpai/lingpai/config"

	"github.com/lingpai/lingpai/internal/testutil/lingpaitest"
)

// BenchmarkToken measures whole token requests through the HTTP stack (client, loopback TCP,
// middleware, fosite, storage) on each backend. Compare with keys.BenchmarkSignRS256, the floor
// every JWT access token pays, and hashing.BenchmarkCompareFast, the generated-secret check.
func BenchmarkToken(b *testing.B) {
	for _, backend := range backends {
		b.Run(backend, func(b *testing.B) {
			s := lingpaitest.Start(b, backend, func(c *config.Config) { c.Server.CacheTTL = 30 * time.Second }) // production default
			secret := s.Client("bench", []string{"client_credentials", "password", "refresh_token"}, []string{"api1", "offline_access"})
			s.User("bench-user", "bench-password")
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			post := func(b *testing.B, form url.Values) string {
				req, _ := http.NewRequest(http.MethodPost, s.URL+"/connect/token", strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth("bench", secret)
				// Error, not Fatal: post also runs on RunParallel's goroutines, where FailNow is not allowed.
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return ""
				}
				defer resp.Body.Close()
				var buf strings.Builder
				_, _ = bufCopy(&buf, resp)
				if resp.StatusCode != 200 {
					b.Errorf("%d %s", resp.StatusCode, buf.String())
					return ""
				}
				return buf.String()
			}
			cc := url.Values{"grant_type": {"client_credentials"}}
			b.Run("client_credentials", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					post(b, cc)
				}
			})
			b.Run("client_credentials_parallel", func(b *testing.B) {
				b.ReportAllocs()
				// 8 requests in flight on 2 cores, as a loaded server sees: database commits overlap.
				b.SetParallelism(4)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						post(b, cc)
					}
				})
			})
			pw := url.Values{"grant_type": {"password"}, "username": {"bench-user"}, "password": {"bench-password"}, "scope": {"api1"}}
			b.Run("password", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					post(b, pw)
				}
			})
			b.Run("refresh_token", func(b *testing.B) {
				b.ReportAllocs()
				first := post(b, url.Values{"grant_type": {"password"}, "username": {"bench-user"}, "password": {"bench-password"}, "scope": {"offline_access"}})
				rt := field(first, "refresh_token")
				b.ResetTimer()
				for b.Loop() {
					rt = field(post(b, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}), "refresh_token")
				}
			})
		})
	}
}

func bufCopy(w *strings.Builder, resp *http.Response) (int64, error) {
	buf := make([]byte, 4096)
	var n int64
	for {
		m, err := resp.Body.Read(buf)
		w.Write(buf[:m])
		n += int64(m)
		if err != nil {
			return n, nil //nolint:nilerr // EOF (or a cut body) ends the copy; the status code tells the caller
		}
	}
}

func field(body, name string) string {
	i := strings.Index(body, `"`+name+`":"`)
	if i < 0 {
		return ""
	}
	rest := body[i+len(name)+4:]
	return rest[:strings.IndexByte(rest, '"')]
}
