// lingpai driven by oauth4webapi (run by interop_test.go; see doc.go for the line protocol).
import * as oauth from "oauth4webapi";
import { createHash } from "node:crypto";
import { createInterface } from "node:readline";

const conf = JSON.parse(process.env.INTEROP_CONFIG);
const issuer = new URL(conf.issuer);
const http = { [oauth.allowInsecureRequests]: true }; // the test server is plain http on loopback
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

async function ask(verb, arg) {
  process.stdout.write(`${verb} ${arg}\n`);
  const { value, done } = await lines.next();
  if (done) throw new Error(`no answer to ${verb}`);
  return value;
}

function check(cond, why) {
  if (!cond) throw new Error(why);
}

let failed = 0;
async function flow(name, fn) {
  try {
    await fn();
    process.stdout.write(`RESULT ${name} ok\n`);
  } catch (e) {
    failed++;
    if (e instanceof oauth.ResponseBodyError) e = new Error(`${e.error}: ${e.error_description} ${e.stack}`);
    process.stdout.write(`RESULT ${name} FAIL ${(e && (e.stack || e.message) || String(e)).replace(/\s+/g, " ")}\n`);
  }
}

// at_hash (OIDC Core 3.1.3.6): the left half of the SHA-256 of the access token (RS256 and ES256).
const atHash = (at) => createHash("sha256").update(at).digest().subarray(0, 16).toString("base64url");

// strictIDToken checks what processAuthorizationCodeResponse leaves to the caller: the signature
// against the JWKS, and at_hash.
async function strictIDToken(as, response, result, client) {
  await oauth.validateApplicationLevelSignature(as, response, http);
  const claims = oauth.getValidatedIdTokenClaims(result);
  check(claims.iss === conf.issuer, `iss ${claims.iss}`);
  check(claims.aud === client.client_id || (Array.isArray(claims.aud) && claims.aud.includes(client.client_id)), `aud ${claims.aud}`);
  check(claims.at_hash === atHash(result.access_token), "at_hash does not match the access token");
  return claims;
}

const expectError = async (code, fn) => {
  try {
    await fn();
  } catch (e) {
    if (e instanceof oauth.ResponseBodyError && e.error === code) return;
    throw new Error(`want ${code}, got ${e}`);
  }
  throw new Error(`want ${code}, got success`);
};

let as;
await flow("discovery", async () => {
  as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: "oidc", ...http }));
  const as2 = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: "oauth2", ...http }));
  check(as2.token_endpoint === as.token_endpoint, "RFC 8414 metadata differs");
  check(as.id_token_signing_alg_values_supported.includes("RS256"), "RS256 not listed for id_tokens");
  check(as.code_challenge_methods_supported.includes("S256"), "S256 not listed");
});
if (!as) process.exit(1);

const cc = { client_id: "cc" };
for (const [name, auth] of [["client_credentials_basic", oauth.ClientSecretBasic(conf.cc_secret)], ["client_credentials_post", oauth.ClientSecretPost(conf.cc_secret)]]) {
  await flow(name, async () => {
    const res = await oauth.processClientCredentialsResponse(as, cc,
      await oauth.clientCredentialsGrantRequest(as, cc, auth, { scope: "api1" }, http));
    check(res.token_type === "bearer" && res.scope === "api1", `token ${JSON.stringify(res)}`);
    // RFC 9068: the access token is a JWT the library validates against the JWKS.
    const claims = await oauth.validateJwtAccessToken(as, new Request("http://rs.example/", { headers: { authorization: `Bearer ${res.access_token}` } }),
      conf.audience, { ...http, signingAlgorithms: ["RS256", "ES256"] });
    check(claims.client_id === "cc" && claims.sub === "cc", `claims ${JSON.stringify(claims)}`);
  });
}

const pw = { client_id: "pw" };
const pwAuth = oauth.ClientSecretBasic(conf.pw_secret);
let pwTokens;
await flow("password", async () => {
  pwTokens = await oauth.processGenericTokenEndpointResponse(as, pw,
    await oauth.genericTokenEndpointRequest(as, pw, pwAuth, "password", { username: conf.username, password: conf.password, scope: "openid profile offline_access api1" }, http));
  check(pwTokens.refresh_token && pwTokens.id_token, "no refresh token or id_token");
});

await flow("refresh_rotation_and_reuse", async () => {
  const first = pwTokens.refresh_token;
  const next = await oauth.processRefreshTokenResponse(as, pw, await oauth.refreshTokenGrantRequest(as, pw, pwAuth, first, http));
  check(next.refresh_token && next.refresh_token !== first, "refresh token not rotated");
  // A narrower scope narrows the new access token (RFC 6749 section 6).
  const narrow = await oauth.processRefreshTokenResponse(as, pw,
    await oauth.refreshTokenGrantRequest(as, pw, pwAuth, next.refresh_token, { additionalParameters: { scope: "api1 offline_access" }, ...http }));
  check(narrow.scope === "api1 offline_access", `narrowed scope ${narrow.scope}`);
  // Reusing a rotated token is refused, and revokes the family.
  await expectError("invalid_grant", async () => oauth.processRefreshTokenResponse(as, pw, await oauth.refreshTokenGrantRequest(as, pw, pwAuth, first, http)));
  await expectError("invalid_grant", async () => oauth.processRefreshTokenResponse(as, pw, await oauth.refreshTokenGrantRequest(as, pw, pwAuth, narrow.refresh_token, http)));
});

// codeFlow runs the authorization code flow with PKCE, state and nonce through the driver's browser.
async function codeFlow(client, auth, redirect) {
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const nonce = oauth.generateRandomNonce();
  const u = new URL(as.authorization_endpoint);
  for (const [k, v] of Object.entries({ client_id: client.client_id, redirect_uri: redirect, response_type: "code", scope: "openid profile offline_access",
    state, nonce, code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: "S256" })) u.searchParams.set(k, v);
  const callback = new URL(await ask("AUTHORIZE", u.href));
  // Checks state and, as discovery announces it, the RFC 9207 iss parameter.
  const params = oauth.validateAuthResponse(as, client, callback, state);
  const response = await oauth.authorizationCodeGrantRequest(as, client, auth, params, redirect, verifier, http);
  const result = await oauth.processAuthorizationCodeResponse(as, client, response, { expectedNonce: nonce, requireIdToken: true });
  const claims = await strictIDToken(as, response, result, client);
  return { result, claims };
}

const web = { client_id: "web" };
const webAuth = oauth.ClientSecretBasic(conf.web_secret);
let webTokens, webClaims;
await flow("code_pkce_confidential", async () => {
  ({ result: webTokens, claims: webClaims } = await codeFlow(web, webAuth, conf.web_redirect));
});
await flow("code_pkce_public", async () => {
  const spa = { client_id: "spa", token_endpoint_auth_method: "none" };
  const { result } = await codeFlow(spa, oauth.None(), conf.spa_redirect);
  const next = await oauth.processRefreshTokenResponse(as, spa, await oauth.refreshTokenGrantRequest(as, spa, oauth.None(), result.refresh_token, http));
  check(next.access_token && next.refresh_token !== result.refresh_token, "public client refresh");
});

await flow("userinfo", async () => {
  const info = await oauth.processUserInfoResponse(as, web, webClaims.sub, await oauth.userInfoRequest(as, web, webTokens.access_token, http));
  check(info.preferred_username === "alice" || info.name, `userinfo ${JSON.stringify(info)}`);
});

await flow("introspection", async () => {
  const info = await oauth.processIntrospectionResponse(as, web, await oauth.introspectionRequest(as, web, webAuth, webTokens.access_token, http));
  check(info.active === true && info.client_id === "web" && info.sub === webClaims.sub && info.iss === conf.issuer && info.token_type === "Bearer", `introspection ${JSON.stringify(info)}`);
});

await flow("revocation", async () => {
  await oauth.processRevocationResponse(await oauth.revocationRequest(as, web, webAuth, webTokens.refresh_token, http));
  const info = await oauth.processIntrospectionResponse(as, web, await oauth.introspectionRequest(as, web, webAuth, webTokens.access_token, http));
  check(info.active === false, "access token still active after its refresh token was revoked");
});

await flow("end_session", async () => {
  const u = new URL(as.end_session_endpoint);
  u.searchParams.set("id_token_hint", webTokens.id_token);
  u.searchParams.set("post_logout_redirect_uri", conf.web_logout);
  u.searchParams.set("state", "bye-1");
  const back = new URL(await ask("LOGOUT", u.href));
  check(back.origin + back.pathname === conf.web_logout && back.searchParams.get("state") === "bye-1", `logout went to ${back}`);
});

await flow("sms", async () => {
  const app = { client_id: "smsapp" };
  const auth = oauth.ClientSecretBasic(conf.sms_secret);
  const r = await fetch(new URL("/connect/sms/code", issuer), { method: "POST", body: new URLSearchParams({ phone: conf.phone }),
    headers: { authorization: "Basic " + Buffer.from(`smsapp:${conf.sms_secret}`).toString("base64") } });
  check(r.ok, `sms code ${r.status} ${await r.text()}`);
  const code = await ask("SMSCODE", conf.phone);
  const res = await oauth.processGenericTokenEndpointResponse(as, app,
    await oauth.genericTokenEndpointRequest(as, app, auth, "sms", { phone: conf.phone, sms: code, scope: "openid phone offline_access" }, http));
  check(res.id_token && res.refresh_token, `sms tokens ${JSON.stringify(res)}`);
});

process.exit(failed ? 1 : 0);
