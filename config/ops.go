package config

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"os"
	"time"
)

// Janitor sweeps expired rows (tokens, codes, sessions, throttle counters) in small batches, so no
// sweep holds long locks; only one replica sweeps at a time (a lease row decides which).
type Janitor struct {
	// Interval between sweeps; 0s turns the background janitor off (lingpai gc still works).
	Interval  time.Duration `yaml:"interval"`
	BatchSize int           `yaml:"batch_size"`
}

// Tracing exports OpenTelemetry traces. Off unless OTLPEndpoint is set, so a default install sends
// nothing anywhere.
type Tracing struct {
	// OTLPEndpoint is an OTLP/HTTP collector URL, e.g. http://otel-collector:4318 (the standard
	// OTEL_EXPORTER_OTLP_* variables then tune headers and TLS).
	OTLPEndpoint string  `yaml:"otlp_endpoint"`
	ServiceName  string  `yaml:"service_name"`
	SampleRatio  float64 `yaml:"sample_ratio"`
}

// validateOps checks the operations keys: the admin listener and the janitor.
func (c *Config) validateOps() []error {
	var errs []error
	if c.Server.AdminAddr != "" {
		if _, _, err := net.SplitHostPort(c.Server.AdminAddr); err != nil {
			errs = append(errs, fmt.Errorf("server.admin_addr: must be host:port or empty, got %q", c.Server.AdminAddr))
		} else if c.Server.AdminAddr == c.Server.Addr {
			errs = append(errs, fmt.Errorf("server.admin_addr: must differ from server.addr"))
		}
	}
	if t := c.Server.AdminTLS; t != nil {
		if c.Server.AdminAddr == "" {
			errs = append(errs, fmt.Errorf("server.admin_tls: needs server.admin_addr"))
		}
		if _, err := t.Load(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.Janitor.Interval < 0 {
		errs = append(errs, fmt.Errorf("janitor.interval: must be 0s (off) or positive"))
	}
	if c.Janitor.BatchSize < 1 || c.Janitor.BatchSize > 10000 {
		errs = append(errs, fmt.Errorf("janitor.batch_size: must be between 1 and 10000, got %d", c.Janitor.BatchSize))
	}
	if c.Tracing.OTLPEndpoint != "" {
		if u, err := url.Parse(c.Tracing.OTLPEndpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("tracing.otlp_endpoint: must be an http(s) URL such as http://otel-collector:4318, got %q", c.Tracing.OTLPEndpoint))
		}
	}
	if c.Tracing.SampleRatio < 0 || c.Tracing.SampleRatio > 1 {
		errs = append(errs, fmt.Errorf("tracing.sample_ratio: must be between 0 and 1, got %v", c.Tracing.SampleRatio))
	}
	return errs
}

// Load reads the certificate, key and client CA into a TLS configuration that requires and
// verifies a client certificate; errors name the key.
func (t *AdminTLS) Load() (*tls.Config, error) {
	if t.CertFile == "" || t.KeyFile == "" || t.ClientCAFile == "" {
		return nil, fmt.Errorf("server.admin_tls: cert_file, key_file and client_ca_file are all required")
	}
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("server.admin_tls.cert_file/key_file: %w", err)
	}
	pem, err := os.ReadFile(t.ClientCAFile)
	if err != nil {
		return nil, fmt.Errorf("server.admin_tls.client_ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("server.admin_tls.client_ca_file: no PEM certificate in %s", t.ClientCAFile)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert,
		MinVersion: tls.VersionTLS12}, nil
}
