package is4refresh

import (
	"testing"
	"time"

	"github.com/lingpai/lingpai/storage"
)

type settingsClient struct {
	*storage.Client
	set *storage.ClientSettings
}

func (c settingsClient) Settings() *storage.ClientSettings { return c.set }

// TestRefreshExpiry: lifetimes count from the IS4 token's creation as IS4's
// DefaultRefreshTokenService does: absolute ends at creation + absolute; sliding slides but never
// past creation + absolute (when set).
func TestRefreshExpiry(t *testing.T) {
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := created.Add(20 * 24 * time.Hour)
	row := &storage.LegacyRefreshToken{IssuedAt: created}
	day := 24 * 3600
	tests := []struct {
		name string
		set  *storage.ClientSettings
		want time.Time
	}{
		{"no settings: server lifespan", nil, now.Add(720 * time.Hour)},
		{"absolute 30 d", &storage.ClientSettings{AbsoluteRefreshLifetime: 30 * day}, created.Add(30 * 24 * time.Hour)},
		{"sliding 15 d within absolute 30 d", &storage.ClientSettings{RefreshTokenSliding: true, SlidingRefreshLifetime: 5 * day, AbsoluteRefreshLifetime: 30 * day},
			now.Add(5 * 24 * time.Hour)},
		{"sliding capped by absolute", &storage.ClientSettings{RefreshTokenSliding: true, SlidingRefreshLifetime: 15 * day, AbsoluteRefreshLifetime: 30 * day},
			created.Add(30 * 24 * time.Hour)},
		{"sliding without absolute", &storage.ClientSettings{RefreshTokenSliding: true, SlidingRefreshLifetime: 15 * day}, now.Add(15 * 24 * time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c settingsClient
			c.Client, c.set = &storage.Client{ID: "app"}, tt.set
			var got time.Time
			if tt.set == nil {
				got = refreshExpiry(c.Client, row, now, 720*time.Hour)
			} else {
				got = refreshExpiry(c, row, now, 720*time.Hour)
			}
			if !got.Equal(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}
