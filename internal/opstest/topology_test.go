package opstest

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lingpai/lingpai/internal/testutil/testrig"
)

// TestComposeTopologyAsProcesses runs docker-compose.yml's topology as local processes: a private
// MariaDB, an LDAP directory (slapd) and two `lingpai serve` replicas behind one issuer, configured
// only through LINGPAI_* variables, and checks that the replicas behave as one server.
func TestComposeTopologyAsProcesses(t *testing.T) {
	db := startPrivateMariaDB(t)
	dir := testrig.StartSlapd(t)
	addrA, addrB := freeAddr(t), freeAddr(t)
	common := []string{
		"LINGPAI_SERVER_ISSUER=http://lingpai.test", "LINGPAI_SERVER_CACHE_TTL=1s", "LINGPAI_JANITOR_INTERVAL=0s",
		"LINGPAI_THROTTLE_MAX_FAILURES=3",
		"LINGPAI_GRANTS_ENABLED=client_credentials,password,refresh_token,password_ad",
		"LINGPAI_LDAP_URL=" + dir.URL, "LINGPAI_LDAP_BIND_DN=" + dir.ServiceDN, "LINGPAI_LDAP_BIND_PASSWORD=" + testrig.ServicePass,
		"LINGPAI_LDAP_BASE_DN=" + testrig.UsersDN, "LINGPAI_LDAP_DOMAIN=" + testrig.Domain,
		"LINGPAI_LDAP_UPN_SUFFIX=" + testrig.UPNSuffix, "LINGPAI_LDAP_ID_ATTRIBUTE=entryUUID",
	}
	envA := baseEnv(addrA, "mysql", db.DSN(), common...)
	envB := baseEnv(addrB, "mysql", db.DSN(), common...)
	envA = append(envA, "LINGPAI_SERVER_ISSUER=http://lingpai.test") // the last value wins: one issuer for both
	envB = append(envB, "LINGPAI_SERVER_ISSUER=http://lingpai.test")
	secret := clientSecret(t, run(t, envA, "client", "create", "--id", "app", "--grant-types",
		"password_ad,refresh_token,client_credentials", "--scopes", "openid,offline_access,api1"))
	a, b := startServe(t, envA), startServe(t, envB)

	ad := url.Values{"grant_type": {"password_ad"}, "username": {`CORP\alice`}, "password": {testrig.AlicePass}, "scope": {"openid offline_access"}}
	refresh := func(rt string) url.Values { return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}} }
	str := func(x answer, k string) string { v, _ := x.body[k].(string); return v }
	active := func(base, token string) bool {
		return post(t, base, "/connect/introspect", url.Values{"token": {token}}, "app", secret).body["active"] == true
	}

	// Issued at A, refreshed at B.
	first := post(t, a.URL, "/connect/token", ad, "app", secret)
	if first.status != 200 {
		t.Fatalf("password_ad at A: %d %v", first.status, first.body)
	}
	second := post(t, b.URL, "/connect/token", refresh(str(first, "refresh_token")), "app", secret)
	if second.status != 200 {
		t.Fatalf("refresh at B: %d %v", second.status, second.body)
	}
	// Reuse of the first refresh token at A revokes the family, which B honours at once.
	if r := post(t, a.URL, "/connect/token", refresh(str(first, "refresh_token")), "app", secret); r.status != 400 {
		t.Fatalf("reuse at A: %d", r.status)
	}
	if r := post(t, b.URL, "/connect/token", refresh(str(second, "refresh_token")), "app", secret); r.status != 400 {
		t.Fatalf("family survived at B: %d %v", r.status, r.body)
	}
	// Revocation at B is seen by introspection at A.
	fresh := post(t, a.URL, "/connect/token", ad, "app", secret)
	if !active(a.URL, str(fresh, "access_token")) {
		t.Fatal("fresh token not active")
	}
	post(t, b.URL, "/connect/revocation", url.Values{"token": {str(fresh, "refresh_token")}}, "app", secret)
	if active(a.URL, str(fresh, "access_token")) {
		t.Fatal("revocation at B not seen at A")
	}
	// A key rotated at A (CLI, server running) is used and published by B within server.cache_ttl.
	run(t, envA, "keys", "rotate")
	var kid string
	for _, kv := range strings.Split(run(t, envA, "keys", "list"), "\n") {
		if strings.Contains(kv, "active") {
			kid = strings.Fields(kv)[0]
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		cc := post(t, b.URL, "/connect/token", url.Values{"grant_type": {"client_credentials"}}, "app", secret)
		if headerKid(t, str(cc, "access_token")) == kid && jwksHas(t, b.URL, kid) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("B did not pick up the rotated key %s", kid)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Throttling is counted across both replicas: 2 failures at A and 1 at B lock bob at both.
	bad := url.Values{"grant_type": {"password_ad"}, "username": {"bob"}, "password": {"wrong"}}
	post(t, a.URL, "/connect/token", bad, "app", secret)
	post(t, a.URL, "/connect/token", bad, "app", secret)
	post(t, b.URL, "/connect/token", bad, "app", secret)
	good := url.Values{"grant_type": {"password_ad"}, "username": {"bob"}, "password": {testrig.BobPass}}
	if r := post(t, a.URL, "/connect/token", good, "app", secret); r.status != 400 {
		t.Fatalf("bob not locked at A after failures at both: %d", r.status)
	}
}

func headerKid(t *testing.T, jwt string) string {
	t.Helper()
	head, _, _ := strings.Cut(jwt, ".")
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		KID string `json:"kid"`
	}
	_ = json.Unmarshal(raw, &h)
	return h.KID
}

func jwksHas(t *testing.T, base, kid string) bool {
	t.Helper()
	resp, err := http.Get(base + "/.well-known/openid-configuration/jwks")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct {
			KID string `json:"kid"`
		} `json:"keys"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&set)
	for _, k := range set.Keys {
		if k.KID == kid {
			return true
		}
	}
	return false
}
