package ldapdir

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/lingpai/lingpai/internal/tracing"
)

// Errors of Authenticate and Lookup. All but ErrUnavailable are the user's problem and get one
// and the same answer; *Failure carries the detail for the log.
var (
	ErrInvalidCredentials = errors.New("ldapdir: invalid credentials")
	ErrAccountDisabled    = errors.New("ldapdir: account disabled")
	ErrAccountLocked      = errors.New("ldapdir: account locked")
	ErrPasswordExpired    = errors.New("ldapdir: password expired or must change")
	ErrNotInGroup         = errors.New("ldapdir: not in a required group")
	ErrUnavailable        = errors.New("ldapdir: directory unavailable")
)

// Failure says why a sign-in failed, with AD's sub-code when the server gave one.
type Failure struct {
	Reason  string
	SubCode string
	Err     error
}

func (f *Failure) Error() string {
	if f.SubCode != "" {
		return fmt.Sprintf("%s (AD sub-code %s)", f.Reason, f.SubCode)
	}
	return f.Reason
}

func (f *Failure) Unwrap() error { return f.Err }

func fail(err error, reason, sub string) error {
	return &Failure{Reason: reason, SubCode: sub, Err: err}
}

// Entry is a directory user.
type Entry struct {
	ID, Username, DN, Name, Email, Phone string
	Groups                               []string // CNs from memberOf
}

// Directory is a connection to one directory.
type Directory struct {
	cfg    Config
	tls    *tls.Config
	pool   chan *ldap.Conn
	logger *slog.Logger
}

// New prepares a directory client; nothing is dialled until the first request, so lingpai starts
// even while the directory is down.
func New(cfg Config, logger *slog.Logger) (*Directory, error) {
	cfg.SetDefaults()
	if cfg.BindPasswordFile != "" {
		b, err := os.ReadFile(cfg.BindPasswordFile)
		if err != nil {
			return nil, fmt.Errorf("ldap.bind_password_file: %w", err)
		}
		cfg.BindPassword = strings.TrimSpace(string(b))
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.InsecureSkipVerify} //nolint:gosec // only when configured explicitly
	if host, _, err := net.SplitHostPort(strings.SplitN(strings.SplitN(cfg.URL, "://", 2)[1], "/", 2)[0]); err == nil {
		tc.ServerName = host
	}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ldap.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ldap.ca_file: no certificate in %s", cfg.CAFile)
		}
		tc.RootCAs = pool
	}
	if cfg.InsecureSkipVerify {
		logger.Warn("ldap.insecure_skip_verify is true: the directory's certificate is not checked")
	}
	return &Directory{cfg: cfg, tls: tc, pool: make(chan *ldap.Conn, cfg.PoolSize), logger: logger}, nil
}

// RecheckOnRefresh reports ldap.recheck_on_refresh.
func (d *Directory) RecheckOnRefresh() bool { return *d.cfg.RecheckOnRefresh }

// GroupClaims reports ldap.group_claims.
func (d *Directory) GroupClaims() bool { return d.cfg.GroupClaims }

func (d *Directory) dial(ctx context.Context) (*ldap.Conn, error) {
	dialer := &net.Dialer{Timeout: d.cfg.Timeout}
	if dl, ok := ctx.Deadline(); ok {
		dialer.Deadline = dl
	}
	c, err := ldap.DialURL(d.cfg.URL, ldap.DialWithDialer(dialer), ldap.DialWithTLSConfig(d.tls))
	if err != nil {
		return nil, err
	}
	c.SetTimeout(d.cfg.Timeout)
	if d.cfg.StartTLS {
		if err := c.StartTLS(d.tls); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// service returns a pooled connection bound as the service account.
func (d *Directory) service(ctx context.Context) (*ldap.Conn, error) {
	select {
	case c := <-d.pool:
		if !c.IsClosing() {
			return c, nil
		}
		c.Close()
	default:
	}
	c, err := d.dial(ctx)
	if err != nil {
		return nil, fail(ErrUnavailable, "cannot reach the directory: "+err.Error(), "")
	}
	if err := c.Bind(d.cfg.BindDN, d.cfg.BindPassword); err != nil {
		c.Close()
		return nil, fail(ErrUnavailable, "service account bind failed: "+err.Error(), subCode(err))
	}
	return c, nil
}

func (d *Directory) release(c *ldap.Conn, healthy bool) {
	if !healthy {
		c.Close()
		return
	}
	select {
	case d.pool <- c:
	default:
		c.Close()
	}
}

// Close closes pooled connections.
func (d *Directory) Close() error {
	for {
		select {
		case c := <-d.pool:
			c.Close()
		default:
			return nil
		}
	}
}

// split reads alice, alice@corp.example and CORP\alice; foreign domains or suffixes are unknown.
func (d *Directory) split(input string) (sam, upn string, ok bool) {
	input = strings.TrimSpace(input)
	if dom, user, found := strings.Cut(input, `\`); found {
		if d.cfg.Domain == "" || !strings.EqualFold(dom, d.cfg.Domain) {
			return "", "", false
		}
		input = user
	}
	if user, suffix, found := strings.Cut(input, "@"); found {
		if d.cfg.UPNSuffix != "" && !strings.EqualFold(suffix, d.cfg.UPNSuffix) {
			return "", "", false
		}
		return user, input, user != ""
	}
	upn = input
	if d.cfg.UPNSuffix != "" {
		upn = input + "@" + d.cfg.UPNSuffix
	}
	return input, upn, input != ""
}

func (d *Directory) attrs() []string {
	return []string{d.cfg.IDAttribute, d.cfg.Attributes.Username, d.cfg.Attributes.Name, d.cfg.Attributes.Email,
		d.cfg.Attributes.Phone, "memberOf", "userAccountControl"}
}

// search runs filter on a pooled service connection, retrying once on a fresh connection when a
// pooled one turns out dead (the directory restarted): recovery needs no lingpai restart.
func (d *Directory) search(ctx context.Context, filter string) ([]*ldap.Entry, error) {
	for attempt := 0; ; attempt++ {
		c, err := d.service(ctx)
		if err != nil {
			return nil, err
		}
		res, err := c.Search(ldap.NewSearchRequest(d.cfg.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 2,
			int(d.cfg.Timeout/time.Second)+1, false, filter, d.attrs(), nil))
		if err == nil {
			d.release(c, true)
			return res.Entries, nil
		}
		d.release(c, false)
		if ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) && res != nil {
			return res.Entries, nil
		}
		// A pooled connection found dead (the directory restarted) is retried once on a fresh one;
		// a timed-out one is not: the directory is hung, and a retry would double ldap.timeout.
		if attempt == 0 && isConnErr(err) && !isTimeout(err) {
			continue
		}
		return nil, fail(ErrUnavailable, "search failed: "+err.Error(), "")
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return strings.Contains(err.Error(), "timed out") || (errors.As(err, &ne) && ne.Timeout())
}

func isConnErr(err error) bool {
	return ldap.IsErrorWithCode(err, ldap.ErrorNetwork) || strings.Contains(err.Error(), "connection closed") ||
		strings.Contains(err.Error(), "EOF")
}

// Authenticate checks username and password and returns the entry.
func (d *Directory) Authenticate(ctx context.Context, username, password string) (Entry, error) {
	ctx, span := tracing.Start(ctx, "ldap.authenticate")
	e, err := d.authenticate(ctx, username, password)
	tracing.End(span, err, ErrUnavailable)
	return e, err
}

func (d *Directory) authenticate(ctx context.Context, username, password string) (Entry, error) {
	// An empty password is an "unauthenticated bind" that many servers accept: refuse it first.
	if password == "" {
		return Entry{}, fail(ErrInvalidCredentials, "empty password", "")
	}
	sam, upn, ok := d.split(username)
	if !ok {
		return Entry{}, fail(ErrInvalidCredentials, "unknown domain or UPN suffix", "")
	}
	filter := strings.NewReplacer("{username}", ldap.EscapeFilter(sam), "{upn}", ldap.EscapeFilter(upn)).Replace(d.cfg.UserFilter)
	entries, err := d.search(ctx, filter)
	if err != nil {
		return Entry{}, err
	}
	if len(entries) != 1 {
		reason := "unknown user"
		if len(entries) > 1 {
			reason = "ambiguous username"
		}
		return Entry{}, fail(ErrInvalidCredentials, reason, "")
	}
	e := entries[0]
	if disabled(e) {
		return Entry{}, fail(ErrAccountDisabled, "account disabled (userAccountControl)", "")
	}
	if err := d.bindAs(ctx, e.DN, password); err != nil {
		return Entry{}, err
	}
	entry := d.toEntry(e)
	if !d.inRequiredGroup(e) {
		return Entry{}, fail(ErrNotInGroup, "not in ldap.required_groups", "")
	}
	return entry, nil
}

// bindAs checks the password on a connection of its own, so the pooled ones stay the service's.
func (d *Directory) bindAs(ctx context.Context, dn, password string) error {
	c, err := d.dial(ctx)
	if err != nil {
		return fail(ErrUnavailable, "cannot reach the directory: "+err.Error(), "")
	}
	defer c.Close()
	err = c.Bind(dn, password)
	if err == nil {
		return nil
	}
	if !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
		if ldap.IsErrorWithCode(err, ldap.LDAPResultUnwillingToPerform) {
			return fail(ErrInvalidCredentials, "bind refused", "")
		}
		return fail(ErrUnavailable, "bind failed: "+err.Error(), "")
	}
	sub := subCode(err)
	switch sub {
	case "533", "530", "531":
		return fail(ErrAccountDisabled, "bind refused: account disabled or restricted", sub)
	case "701":
		return fail(ErrAccountDisabled, "bind refused: account expired", sub)
	case "532", "773":
		return fail(ErrPasswordExpired, "bind refused: password expired or must be changed", sub)
	case "775":
		return fail(ErrAccountLocked, "bind refused: account locked out", sub)
	case "525":
		return fail(ErrInvalidCredentials, "bind refused: user not found", sub)
	}
	return fail(ErrInvalidCredentials, "wrong password", sub)
}

var subCodePattern = regexp.MustCompile(`data ([0-9a-fA-F]{3,4})`)

// subCode reads AD's reason from "80090308: LdapErr: ..., data 52e, v...".
func subCode(err error) string {
	if m := subCodePattern.FindStringSubmatch(err.Error()); m != nil {
		return strings.ToLower(m[1])
	}
	return ""
}

func disabled(e *ldap.Entry) bool {
	v := e.GetAttributeValue("userAccountControl")
	if v == "" {
		return false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return err == nil && n&2 != 0
}

func (d *Directory) toEntry(e *ldap.Entry) Entry {
	out := Entry{
		DN: e.DN, ID: d.idOf(e), Username: e.GetAttributeValue(d.cfg.Attributes.Username),
		Name: e.GetAttributeValue(d.cfg.Attributes.Name), Email: e.GetAttributeValue(d.cfg.Attributes.Email),
		Phone: e.GetAttributeValue(d.cfg.Attributes.Phone),
	}
	for _, g := range e.GetAttributeValues("memberOf") {
		if dn, err := ldap.ParseDN(g); err == nil && len(dn.RDNs) > 0 && len(dn.RDNs[0].Attributes) > 0 {
			out.Groups = append(out.Groups, dn.RDNs[0].Attributes[0].Value)
		}
	}
	return out
}

// idOf renders the stable id: objectGUID's 16 bytes as AD prints a GUID, anything else as text.
func (d *Directory) idOf(e *ldap.Entry) string {
	raw := e.GetRawAttributeValue(d.cfg.IDAttribute)
	if strings.EqualFold(d.cfg.IDAttribute, "objectGUID") && len(raw) == 16 {
		return fmt.Sprintf("%08x-%04x-%04x-%s-%s", binary.LittleEndian.Uint32(raw[0:4]), binary.LittleEndian.Uint16(raw[4:6]),
			binary.LittleEndian.Uint16(raw[6:8]), hex.EncodeToString(raw[8:10]), hex.EncodeToString(raw[10:16]))
	}
	return string(raw)
}

func (d *Directory) inRequiredGroup(e *ldap.Entry) bool {
	if len(d.cfg.RequiredGroups) == 0 {
		return true
	}
	for _, g := range e.GetAttributeValues("memberOf") {
		gdn, err := ldap.ParseDN(g)
		if err != nil {
			continue
		}
		for _, want := range d.cfg.RequiredGroups {
			if strings.Contains(want, "=") {
				if wdn, err := ldap.ParseDN(want); err == nil && wdn.EqualFold(gdn) {
					return true
				}
			} else if len(gdn.RDNs) > 0 && strings.EqualFold(gdn.RDNs[0].Attributes[0].Value, want) {
				return true
			}
		}
	}
	return false
}

// Lookup finds an entry by its stable id, for the refresh recheck: ErrInvalidCredentials when it
// is gone, ErrAccountDisabled when it is disabled.
func (d *Directory) Lookup(ctx context.Context, id string) (Entry, error) {
	ctx, span := tracing.Start(ctx, "ldap.lookup")
	e, err := d.lookup(ctx, id)
	tracing.End(span, err, ErrUnavailable)
	return e, err
}

func (d *Directory) lookup(ctx context.Context, id string) (Entry, error) {
	value := ldap.EscapeFilter(id)
	if strings.EqualFold(d.cfg.IDAttribute, "objectGUID") {
		b, err := guidBytes(id)
		if err != nil {
			return Entry{}, fail(ErrInvalidCredentials, "malformed GUID", "")
		}
		var sb strings.Builder
		for _, c := range b {
			fmt.Fprintf(&sb, `\%02x`, c)
		}
		value = sb.String()
	}
	entries, err := d.search(ctx, "("+d.cfg.IDAttribute+"="+value+")")
	if err != nil {
		return Entry{}, err
	}
	if len(entries) != 1 {
		return Entry{}, fail(ErrInvalidCredentials, "entry no longer exists", "")
	}
	if disabled(entries[0]) {
		return Entry{}, fail(ErrAccountDisabled, "account disabled (userAccountControl)", "")
	}
	if !d.inRequiredGroup(entries[0]) {
		return Entry{}, fail(ErrNotInGroup, "no longer in ldap.required_groups", "")
	}
	return d.toEntry(entries[0]), nil
}

func guidBytes(s string) ([]byte, error) {
	h, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil || len(h) != 16 {
		return nil, errors.New("not a GUID")
	}
	out := make([]byte, 16)
	binary.LittleEndian.PutUint32(out[0:4], binary.BigEndian.Uint32(h[0:4]))
	binary.LittleEndian.PutUint16(out[4:6], binary.BigEndian.Uint16(h[4:6]))
	binary.LittleEndian.PutUint16(out[6:8], binary.BigEndian.Uint16(h[6:8]))
	copy(out[8:], h[8:])
	return out, nil
}
