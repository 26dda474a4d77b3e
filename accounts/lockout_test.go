package accounts_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/lingpai/lingpai/accounts"
	"github.com/lingpai/lingpai/internal/hashing"
	"github.com/lingpai/lingpai/internal/throttle"
	"github.com/lingpai/lingpai/storage"
	"github.com/lingpai/lingpai/storage/storagetest"
)

// TestImportedLockout: a user under an imported lockout is refused by phone and by a linked
// identity until the lockout ends, and is not Active (refresh stops) meanwhile.
func TestImportedLockout(t *testing.T) {
	ctx := context.Background()
	st := storagetest.OpenSQLite(t, storage.Options{})
	now := time.Now()
	st.SetClock(func() time.Time { return now })
	svc, err := accounts.New(st, hashing.Hasher{Argon2: hashing.Argon2Params{Memory: 1024, Time: 1, Threads: 1}},
		throttle.New(st, throttle.Options{MaxFailures: 5, IPMaxFailures: 50, Window: time.Minute, Lockout: time.Minute}, time.Now), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	p := "+8613800138000"
	u := &storage.User{Phone: &p, PhoneVerified: true}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := st.LinkIdentity(ctx, &storage.Identity{UserID: u.ID, Provider: "wechat-unionid", Subject: "U1"}); err != nil {
		t.Fatal(err)
	}
	until := now.Add(time.Hour)
	if err := st.SetUserLockout(ctx, u.ID, &until); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ByPhone(ctx, p, false); !errors.Is(err, accounts.ErrDisabled) {
		t.Fatalf("ByPhone while locked: %v", err)
	}
	if _, err := svc.Resolve(ctx, accounts.External{Provider: "wechat-unionid", Subject: "U1"}, false); !errors.Is(err, accounts.ErrDisabled) {
		t.Fatalf("Resolve while locked: %v", err)
	}
	if ok, err := svc.Active(ctx, u.ID); ok || err != nil {
		t.Fatalf("Active while locked: %v %v", ok, err)
	}
	now = until.Add(time.Second)
	if _, err := svc.ByPhone(ctx, p, false); err != nil {
		t.Fatalf("ByPhone after the lockout: %v", err)
	}
	if ok, _ := svc.Active(ctx, u.ID); !ok {
		t.Fatal("not Active after the lockout")
	}
}
