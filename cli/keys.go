package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/lingpai/lingpai/config"
	"github.com/lingpai/lingpai/internal/manage"
	"github.com/lingpai/lingpai/storage"
)

func (e *env) keysCommand() *cobra.Command {
	return group("keys", "List, rotate, retire and re-encrypt token signing keys", e.keysListCommand(), e.keysRotateCommand(), e.keysRetireCommand(), e.keysReencryptCommand())
}

type keyView struct {
	KID       string     `json:"kid"`
	Algorithm string     `json:"alg"`
	CreatedAt time.Time  `json:"created_at"`
	RetiredAt *time.Time `json:"retired_at"`
	Status    string     `json:"status"`
}

func (e *env) keysListCommand() *cobra.Command {
	var out outputFlag
	c := &cobra.Command{
		Use:   "list",
		Short: "List signing keys, newest first (the first non-retired one signs)",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			return e.inStore(func(_ *config.Config, st *storage.Store) error {
				list, err := st.SigningKeys(e.ctx, time.Time{})
				if err != nil {
					return err
				}
				views := make([]keyView, 0, len(list))
				for i, k := range list {
					v := keyView{KID: k.KID, Algorithm: k.Algorithm, CreatedAt: k.CreatedAt.UTC(), RetiredAt: k.RetiredAt, Status: "published"}
					switch {
					case k.RetiredAt != nil:
						v.Status = "retired " + k.RetiredAt.UTC().Format(time.RFC3339)
					case i == 0:
						v.Status = "active"
					}
					views = append(views, v)
				}
				if out.json() {
					return writeJSON(e.stdout, views)
				}
				tw := newTable(e.stdout)
				fmt.Fprintln(tw, "KID\tALG\tCREATED\tSTATUS")
				for _, k := range views {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.KID, k.Algorithm, k.CreatedAt.Format(time.RFC3339), k.Status)
				}
				return tw.Flush()
			})
		},
	}
	out.register(c)
	return c
}

func (e *env) keysRotateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "rotate",
		Short: "Make a new active signing key; older keys stay published until their tokens expire",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			return e.inStore(func(cfg *config.Config, st *storage.Store) error {
				k, err := e.manage(cfg, st).RotateKeys(e.ctx)
				if err != nil {
					return err
				}
				// The audit event: kid and algorithm only, never key material.
				newLogger(e.stderr, cfg).Info("signing key rotated", "event", "key.rotated", "kid", k.KID, "alg", k.Algorithm)
				fmt.Fprintf(e.stdout, "new active key kid=%s alg=%s; older keys stay published until their tokens expire\n", k.KID, k.Algorithm)
				return nil
			})
		},
	}
}

// keysReencryptCommand seals every private signing key and system secret under the first of
// security.secrets: plaintext rows from before encryption, and rows under a secret being retired.
func (e *env) keysReencryptCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "reencrypt",
		Short: "Seal every private key and system secret under the first security.secrets entry",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			return e.inStore(func(cfg *config.Config, st *storage.Store) error {
				n, err := st.Reencrypt(e.ctx)
				if err != nil {
					return err
				}
				newLogger(e.stderr, cfg).Info("key material re-encrypted", "event", "key.reencrypted", "rows", n)
				fmt.Fprintf(e.stdout, "re-encrypted %d rows under the first security.secrets entry\n", n)
				return nil
			})
		},
	}
}

func (e *env) keysRetireCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "retire KID",
		Short: "Stop a key signing (a new key of its algorithm takes over); it verifies until its tokens expire",
		Args:  exactArgs(1, "key id"),
		RunE: func(_ *cobra.Command, args []string) error {
			return e.inStore(func(cfg *config.Config, st *storage.Store) error {
				k, err := e.manage(cfg, st).RetireKey(e.ctx, args[0])
				switch {
				case errors.Is(err, manage.ErrNotFound):
					return fmt.Errorf("no key %q", args[0])
				case err != nil:
					return err
				}
				newLogger(e.stderr, cfg).Info("signing key retired", "event", "key.retired", "kid", args[0], "new_kid", k.KID)
				fmt.Fprintf(e.stdout, "retired kid=%s; new active key kid=%s alg=%s\n", args[0], k.KID, k.Algorithm)
				return nil
			})
		},
	}
}
