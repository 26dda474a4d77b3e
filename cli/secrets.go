package cli

import (
	"bytes"
	"fmt"
	"io"
)

// secretSource is where a command gets a secret or password: the flag itself (visible in ps and
// shell history, kept because scripts use it), stdin (--*-stdin), or a prompt without echo when
// stdin is a terminal.
type secretSource struct {
	flagName  string // "secret" or "password"
	value     string
	fromStdin bool
}

// resolve returns the secret, or "" when none was given and no terminal can be asked. prompt is
// shown on stderr when one is typed; confirm asks twice, for a new password.
func (e *env) resolve(s secretSource, prompt string, confirm bool) (string, error) {
	if s.value != "" && s.fromStdin {
		return "", usageError("--%s and --%s-stdin are mutually exclusive", s.flagName, s.flagName)
	}
	switch {
	case s.value != "":
		return s.value, nil
	case s.fromStdin:
		b, err := io.ReadAll(io.LimitReader(e.stdin, 64<<10))
		if err != nil {
			return "", fmt.Errorf("read --%s-stdin: %w", s.flagName, err)
		}
		// One trailing newline is what echo and a here-string add; it is never part of the secret.
		b = bytes.TrimSuffix(bytes.TrimSuffix(b, []byte("\n")), []byte("\r"))
		if len(b) == 0 {
			return "", usageError("--%s-stdin: nothing on standard input", s.flagName)
		}
		return string(b), nil
	case e.terminal != nil && prompt != "":
		fmt.Fprint(e.stderr, prompt+": ")
		b, err := e.terminal()
		fmt.Fprintln(e.stderr)
		if err != nil {
			return "", fmt.Errorf("read %s: %w", s.flagName, err)
		}
		if confirm {
			fmt.Fprint(e.stderr, "again: ")
			again, err := e.terminal()
			fmt.Fprintln(e.stderr)
			if err != nil {
				return "", fmt.Errorf("read %s: %w", s.flagName, err)
			}
			if !bytes.Equal(b, again) {
				return "", usageError("the two %ss differ", s.flagName)
			}
		}
		return string(b), nil
	}
	return "", nil
}
