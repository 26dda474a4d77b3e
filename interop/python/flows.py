"""lingpai driven by Authlib (Debian's python3-authlib), run by interop_test.go.

See interop/doc.go for the line protocol on stdin/stdout.
"""
import base64
import json
import os
import sys
import traceback
from urllib.parse import parse_qs, urlparse

os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"  # the test server is plain http on loopback
os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"  # likewise for requests-oauthlib

import requests  # noqa: E402
from authlib.integrations.requests_client import OAuth2Session, OAuthError  # noqa: E402
from authlib.common.security import generate_token  # noqa: E402
from authlib.jose import JsonWebKey, jwt  # noqa: E402
from authlib.oidc.core import CodeIDToken, IDToken  # noqa: E402

conf = json.loads(os.environ["INTEROP_CONFIG"])
issuer = conf["issuer"]
failed = 0


def ask(verb, arg):
    print(f"{verb} {arg}", flush=True)
    line = sys.stdin.readline()
    if not line:
        raise RuntimeError(f"no answer to {verb}")
    return line.strip()


def check(cond, why):
    if not cond:
        raise AssertionError(why)


def flow(name, fn):
    global failed
    try:
        fn()
        print(f"RESULT {name} ok", flush=True)
    except Exception as e:  # report every failure, keep going
        failed += 1
        detail = " ".join(traceback.format_exception(type(e), e, e.__traceback__)).replace("\n", " ")
        print(f"RESULT {name} FAIL {detail}", flush=True)


def expect_error(code, fn):
    try:
        fn()
    except OAuthError as e:
        check(e.error == code, f"want {code}, got {e.error}: {e.description}")
        return
    raise AssertionError(f"want {code}, got success")


meta = {}


def discovery():
    doc = requests.get(issuer + "/.well-known/openid-configuration", timeout=10).json()
    check(doc["issuer"] == issuer, f"issuer {doc['issuer']}")
    rfc8414 = requests.get(issuer + "/.well-known/oauth-authorization-server", timeout=10).json()
    check(rfc8414 == doc, "RFC 8414 metadata differs")
    check("RS256" in doc["id_token_signing_alg_values_supported"], "RS256 not listed")
    meta.update(doc)
    meta["jwks"] = JsonWebKey.import_key_set(requests.get(doc["jwks_uri"], timeout=10).json())


flow("discovery", discovery)
if not meta:
    sys.exit(1)


def verify_id_token(token, client_id, nonce=None, cls=CodeIDToken):
    """Strict id_token checks: signature (JWKS, by kid), iss, aud, exp, nonce, at_hash."""
    params = {"client_id": client_id, "access_token": token["access_token"]}
    if nonce:
        params["nonce"] = nonce
    claims = jwt.decode(token["id_token"], meta["jwks"], claims_cls=cls,
                        claims_options={"iss": {"essential": True, "value": issuer}}, claims_params=params)
    claims.validate(leeway=5)
    check(claims.get("at_hash"), "no at_hash")
    return claims


def client_credentials(method):
    def run():
        s = OAuth2Session("cc", conf["cc_secret"], token_endpoint_auth_method=method, scope="api1")
        tok = s.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
        check(tok["token_type"] == "Bearer" and tok["scope"] == "api1", f"token {tok}")
        at = jwt.decode(tok["access_token"], meta["jwks"])  # RFC 9068: a JWT signed by a published key
        at.validate(leeway=5)
        check(at["iss"] == issuer and at["client_id"] == "cc" and conf["audience"] in at["aud"], f"claims {dict(at)}")
    return run


flow("client_credentials_basic", client_credentials("client_secret_basic"))
flow("client_credentials_post", client_credentials("client_secret_post"))

pw = OAuth2Session("pw", conf["pw_secret"], scope="openid profile offline_access api1")
pw_token = {}


def password():
    tok = pw.fetch_token(meta["token_endpoint"], username=conf["username"], password=conf["password"])
    check(tok.get("refresh_token") and tok.get("id_token"), f"token {tok}")
    verify_id_token(tok, "pw", cls=IDToken)
    pw_token.update(tok)


flow("password", password)


def refresh_rotation_and_reuse():
    first = pw_token["refresh_token"]
    nxt = pw.refresh_token(meta["token_endpoint"], refresh_token=first)
    check(nxt["refresh_token"] != first, "not rotated")
    narrow = pw.refresh_token(meta["token_endpoint"], refresh_token=nxt["refresh_token"], scope="api1 offline_access")
    check(narrow["scope"] == "api1 offline_access", f"narrowed scope {narrow.get('scope')}")
    expect_error("invalid_grant", lambda: pw.refresh_token(meta["token_endpoint"], refresh_token=first))
    expect_error("invalid_grant", lambda: pw.refresh_token(meta["token_endpoint"], refresh_token=narrow["refresh_token"]))


flow("refresh_rotation_and_reuse", refresh_rotation_and_reuse)


def code_flow(session, client_id):
    verifier, nonce = generate_token(48), generate_token(20)
    url, state = session.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
    callback = ask("AUTHORIZE", url)
    q = parse_qs(urlparse(callback).query)
    check(q.get("iss") == [issuer], f"RFC 9207 iss {q.get('iss')}")  # Authlib 1.2 does not check it
    tok = session.fetch_token(meta["token_endpoint"], authorization_response=callback, code_verifier=verifier)
    claims = verify_id_token(tok, client_id, nonce)
    return tok, claims


web = OAuth2Session("web", conf["web_secret"], redirect_uri=conf["web_redirect"], scope="openid profile offline_access",
                    code_challenge_method="S256")
web_state = {}


def code_confidential():
    tok, claims = code_flow(web, "web")
    web_state.update(token=tok, sub=claims["sub"])


def code_public():
    spa = OAuth2Session("spa", None, redirect_uri=conf["spa_redirect"], scope="openid profile offline_access",
                        code_challenge_method="S256", token_endpoint_auth_method="none")
    tok, _ = code_flow(spa, "spa")
    nxt = spa.refresh_token(meta["token_endpoint"], refresh_token=tok["refresh_token"])
    check(nxt["refresh_token"] != tok["refresh_token"], "public refresh not rotated")


flow("code_pkce_confidential", code_confidential)
flow("code_pkce_public", code_public)


def userinfo():
    info = web.get(meta["userinfo_endpoint"], timeout=10)
    check(info.status_code == 200, f"userinfo {info.status_code} {info.text}")
    check(info.json()["sub"] == web_state["sub"], f"userinfo {info.text}")


flow("userinfo", userinfo)


def introspection():
    r = web.introspect_token(meta["introspection_endpoint"], token=web_state["token"]["access_token"])
    info = r.json()
    check(info["active"] is True and info["client_id"] == "web" and info["iss"] == issuer and info["token_type"] == "Bearer", f"{info}")


flow("introspection", introspection)


def revocation():
    r = web.revoke_token(meta["revocation_endpoint"], token=web_state["token"]["refresh_token"], token_type_hint="refresh_token")
    check(r.status_code == 200, f"revocation {r.status_code} {r.text}")
    info = web.introspect_token(meta["introspection_endpoint"], token=web_state["token"]["access_token"]).json()
    check(info["active"] is False, "access token still active after revocation")


flow("revocation", revocation)


def end_session():
    from urllib.parse import urlencode
    url = meta["end_session_endpoint"] + "?" + urlencode({"id_token_hint": web_state["token"]["id_token"],
                                                         "post_logout_redirect_uri": conf["web_logout"], "state": "bye-2"})
    back = urlparse(ask("LOGOUT", url))
    check(f"{back.scheme}://{back.netloc}{back.path}" == conf["web_logout"] and parse_qs(back.query).get("state") == ["bye-2"], f"{back}")


flow("end_session", end_session)


def sms():
    r = requests.post(issuer + "/connect/sms/code", data={"phone": conf["phone"]}, auth=("smsapp", conf["sms_secret"]), timeout=10)
    check(r.status_code == 200, f"sms code {r.status_code} {r.text}")
    code = ask("SMSCODE", conf["phone"])
    s = OAuth2Session("smsapp", conf["sms_secret"], scope="openid phone offline_access")
    tok = s.fetch_token(meta["token_endpoint"], grant_type="sms", phone=conf["phone"], sms=code)
    check(tok.get("id_token") and tok.get("refresh_token"), f"{tok}")
    verify_id_token(tok, "smsapp", cls=IDToken)


flow("sms", sms)


def basic_secret_with_reserved_characters():
    # Authlib writes client_id:client_secret into Basic without the form-encoding RFC 6749 2.3.1
    # requires, so a secret with + % : is garbled on the way, and lingpai refuses it. The
    # workaround, client_secret_post, works.
    basic = OAuth2Session("plus", conf["plus_secret"], token_endpoint_auth_method="client_secret_basic")
    expect_error("invalid_client", lambda: basic.fetch_token(meta["token_endpoint"], grant_type="client_credentials"))
    post = OAuth2Session("plus", conf["plus_secret"], token_endpoint_auth_method="client_secret_post")
    check(post.fetch_token(meta["token_endpoint"], grant_type="client_credentials").get("access_token"), "client_secret_post failed")
    # Encoded as the RFC says, Basic works too.
    from urllib.parse import quote
    enc = base64.b64encode(f"plus:{quote(conf['plus_secret'], safe='')}".encode()).decode()
    r = requests.post(meta["token_endpoint"], data={"grant_type": "client_credentials"}, headers={"Authorization": "Basic " + enc}, timeout=10)
    check(r.status_code == 200, f"form-encoded Basic: {r.status_code} {r.text}")


flow("basic_secret_with_reserved_characters", basic_secret_with_reserved_characters)


def requests_oauthlib_basic_secret():
    # requests-oauthlib (Debian's python3-requests-oauthlib) has the same habit: requests'
    # HTTPBasicAuth with the raw secret. Its workaround is the secret in the body.
    from oauthlib.oauth2 import BackendApplicationClient
    from requests_oauthlib import OAuth2Session as RequestsSession
    s = RequestsSession(client=BackendApplicationClient(client_id="plus"))
    try:
        s.fetch_token(meta["token_endpoint"], client_id="plus", client_secret=conf["plus_secret"])
        raise AssertionError("an unencoded Basic secret with + % : was accepted")
    except Exception as e:  # oauthlib raises InvalidClientError
        check(getattr(e, "error", "") == "invalid_client", f"want invalid_client, got {e!r}")
    s = RequestsSession(client=BackendApplicationClient(client_id="plus"))
    tok = s.fetch_token(meta["token_endpoint"], client_id="plus", client_secret=conf["plus_secret"], include_client_id=True)
    check(tok.get("access_token"), "secret in the body failed")
    # And the client_credentials of a generated (URL-safe) secret work in Basic as they are.
    s = RequestsSession(client=BackendApplicationClient(client_id="cc"))
    check(s.fetch_token(meta["token_endpoint"], client_id="cc", client_secret=conf["cc_secret"]).get("access_token"), "generated secret in Basic")


flow("requests_oauthlib_basic_secret", requests_oauthlib_basic_secret)

sys.exit(1 if failed else 0)
