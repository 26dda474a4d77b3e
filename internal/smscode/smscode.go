// Package smscode is the life cycle of SMS one-time codes: generated from a CSPRNG, stored only as
// a keyed hash, sent within per-phone, per-IP and global limits counted in the database (so every
// replica enforces them), single use, dead after too many wrong tries, replaced by a newer code.
package smscode

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"sync/atomic"
	"time"

	"github.com/lingpai/lingpai/storage"
)

// Options are the sms.* limits.
type Options struct {
	CodeLength     int
	TTL            time.Duration
	MaxAttempts    int
	ResendInterval time.Duration
	HourlyLimit    int // codes per phone per hour
	DailyLimit     int // codes per phone per day
	IPHourlyLimit  int // codes per client IP per hour
	DailyBudget    int // codes sent in total per day; 0 = no budget
}

// Sender delivers a code. Errors wrapping ErrGatewayLimited mean the gateway refused for volume
// (answered 429); any other error means it is unavailable (answered 503).
type Sender interface {
	Send(ctx context.Context, phone, code string, ttl time.Duration) error
}

// ErrGatewayLimited is wrapped by a Sender's error when the vendor throttled the message.
var ErrGatewayLimited = errors.New("smscode: gateway rate limit")

// ErrSendFailed means the gateway did not take the message.
var ErrSendFailed = errors.New("smscode: send failed")

// LimitError says which limit refused a send and when to try again.
type LimitError struct {
	Limit      string // resend_interval, hourly_limit, daily_limit, ip_hourly_limit, daily_budget, gateway
	RetryAfter time.Duration
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("smscode: %s reached; retry after %s", e.Limit, e.RetryAfter)
}

// Store is the part of storage the service needs.
type Store interface {
	ReplaceSMSCode(ctx context.Context, c *storage.SMSCode, notBefore time.Time) (*storage.SMSCode, error)
	RestoreSMSCode(ctx context.Context, phone string, hash []byte, prev *storage.SMSCode) error
	RedeemSMSCode(ctx context.Context, phone string, hash []byte, maxAttempts int, now time.Time) (bool, error)
	AddCount(ctx context.Context, key string, bucket int64, delta int, expires time.Time) (int, error)
}

// Service issues and redeems codes.
type Service struct {
	store  Store
	sender Sender
	key    []byte
	opts   Options
	now    func() time.Time
	logger *slog.Logger
	// sendTime is a moving average of how long the gateway takes to accept a message (ns). A
	// request for a phone with no account waits about as long, so response time does not tell
	// which phones have accounts.
	sendTime atomic.Int64
}

// New returns a service. key keys the code hashes (a server secret shared by all replicas).
func New(store Store, sender Sender, key []byte, opts Options, now func() time.Time, logger *slog.Logger) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, sender: sender, key: key, opts: opts, now: now, logger: logger}
}

// Issued is what the code endpoint answers.
type Issued struct {
	ExpiresIn   int `json:"expires_in"`
	ResendAfter int `json:"resend_after"`
}

func (s *Service) hash(phone, code string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(phone + "\x00" + code))
	return m.Sum(nil)
}

func (s *Service) generate() (string, error) {
	limit := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(s.opts.CodeLength)), nil)
	n, err := rand.Int(rand.Reader, limit)
	if err != nil {
		return "", fmt.Errorf("smscode: generate: %w", err)
	}
	return fmt.Sprintf("%0*d", s.opts.CodeLength, n), nil
}

// china is the day boundary of the daily limits: UTC+8, where lingpai's users live.
const china = 8 * 3600

type reservation struct {
	key    string
	bucket int64
	exp    time.Time
}

// Request issues a code for phone (E.164) asked from ip. deliver is false for a phone with no
// account and no auto-registration: the code is then stored but never sent, and the answer comes
// after about as long as a send takes, so the answer, its timing, the limits and later requests
// are those of a real phone and reveal nothing.
func (s *Service) Request(ctx context.Context, phone, ip string, deliver bool) (Issued, error) {
	now := s.now().UTC()
	hour, day := now.Unix()/3600, (now.Unix()+china)/86400
	hourEnd := time.Unix((hour+1)*3600, 0)
	dayEnd := time.Unix((day+1)*86400-china, 0)
	var held []reservation
	release := func() {
		rctx := context.WithoutCancel(ctx)
		for _, r := range held {
			if _, err := s.store.AddCount(rctx, r.key, r.bucket, -1, r.exp); err != nil {
				s.logger.ErrorContext(ctx, "sms limit release failed", "error", err)
			}
		}
	}
	reserve := func(key, limit string, bucket int64, max int, end time.Time) error {
		if max <= 0 {
			return nil
		}
		n, err := s.store.AddCount(ctx, key, bucket, 1, end.Add(time.Hour))
		if err != nil {
			return err
		}
		held = append(held, reservation{key, bucket, end.Add(time.Hour)})
		if n > max {
			return &LimitError{Limit: limit, RetryAfter: end.Sub(now)}
		}
		return nil
	}
	steps := []func() error{
		func() error { return reserve("sms-ip-h:"+ip, "ip_hourly_limit", hour, s.opts.IPHourlyLimit, hourEnd) },
		func() error { return reserve("sms-phone-h:"+phone, "hourly_limit", hour, s.opts.HourlyLimit, hourEnd) },
		func() error { return reserve("sms-phone-d:"+phone, "daily_limit", day, s.opts.DailyLimit, dayEnd) },
		// Requests for phones with no account count too: a budget spent only by real sends would
		// answer 429 for registered phones and 200 for the rest once exhausted.
		func() error { return reserve("sms-budget-d", "daily_budget", day, s.opts.DailyBudget, dayEnd) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			release()
			return Issued{}, err
		}
	}
	code, err := s.generate()
	if err != nil {
		release()
		return Issued{}, err
	}
	h := s.hash(phone, code)
	// The new hash takes the row at once, so the resend interval holds against concurrent requests;
	// prev is kept to put back if the gateway does not take the message.
	prev, err := s.store.ReplaceSMSCode(ctx, &storage.SMSCode{Phone: phone, CodeHash: h, SentAt: now, ExpiresAt: now.Add(s.opts.TTL)},
		now.Add(-s.opts.ResendInterval))
	if errors.Is(err, storage.ErrTooEarly) {
		release()
		return Issued{}, &LimitError{Limit: "resend_interval", RetryAfter: prev.SentAt.Add(s.opts.ResendInterval).Sub(now)}
	}
	if err != nil {
		release()
		return Issued{}, err
	}
	if !deliver {
		s.waitLikeASend(ctx)
	} else {
		started := time.Now()
		if err := s.sender.Send(ctx, phone, code, s.opts.TTL); err != nil {
			release() // a send that failed counts for none
			// and leaves the previous code as it was: still redeemable if it was.
			if rerr := s.store.RestoreSMSCode(context.WithoutCancel(ctx), phone, h, prev); rerr != nil {
				s.logger.ErrorContext(ctx, "sms code restore failed", "error", rerr)
			}
			if errors.Is(err, ErrGatewayLimited) {
				return Issued{}, &LimitError{Limit: "gateway", RetryAfter: s.opts.ResendInterval}
			}
			return Issued{}, fmt.Errorf("%w: %w", ErrSendFailed, err)
		}
		s.recordSend(time.Since(started))
	}
	return Issued{ExpiresIn: int(s.opts.TTL.Seconds()), ResendAfter: int(s.opts.ResendInterval.Seconds())}, nil
}

// Redeem uses phone's code if it is code. It reports false for a wrong, expired, used or dead code
// alike.
func (s *Service) Redeem(ctx context.Context, phone, code string) (bool, error) {
	if len(code) != s.opts.CodeLength {
		// Still count a try, so malformed guesses are no cheaper than well-formed ones.
		code = "x"
	}
	return s.store.RedeemSMSCode(ctx, phone, s.hash(phone, code), s.opts.MaxAttempts, s.now().UTC())
}

// recordSend folds one successful send's duration into the moving average (weight 1/8).
func (s *Service) recordSend(d time.Duration) {
	for {
		old := s.sendTime.Load()
		next := int64(d)
		if old != 0 {
			next = old - old/8 + int64(d)/8
		}
		if s.sendTime.CompareAndSwap(old, next) {
			return
		}
	}
}

// waitLikeASend waits about as long as a real send takes (nothing before the first one).
func (s *Service) waitLikeASend(ctx context.Context) {
	d := time.Duration(s.sendTime.Load())
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
