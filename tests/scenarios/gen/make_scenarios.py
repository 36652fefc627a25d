#!/usr/bin/env python3
"""Builds the scenario corpus in tests/scenarios/ (Python 3 standard library only).

    python3 tests/scenarios/gen/make_scenarios.py            # write every generated file
    python3 tests/scenarios/gen/make_scenarios.py --list     # print the names only
    python3 tests/scenarios/gen/make_scenarios.py --out DIR  # write somewhere else

The twelve example scenarios copied from shared/scenarios/ are kept as they are: this script
never writes a file with one of their names (EXAMPLES below).

Conventions (see shared/scenario-format.md):
- the clock starts at START_MS (2026-01-01T00:00:00Z); S0 is that instant in Unix seconds;
- a test JWT is base64url(header).base64url(payload).base64url("sig-<tag>") and its payload has
  sub, aud, role, exp, iat, session_id and `ref` = the tag naming the session;
- the refresh token of session <tag> is `rt-<tag>`;
- a token answer issued `issued` seconds after the start carries expires_in = life and
  expires_at = S0 + issued + life, so the server's "now" (expires_at - expires_in) equals the
  device clock unless a scenario skews it on purpose;
- the margin is 90 s: due when expires_at - now < 90, expired when now >= expires_at.
"""

import argparse
import base64
import json
import os
import sys

S0 = 1767225600
START_MS = S0 * 1000
H1 = S0 + 3600
KEY = "sb-test-auth-token"
VERIFIER_KEY = KEY + "-code-verifier"
USER_KEY = KEY + "-user"
API = {"x-supabase-api-version": "2024-01-01"}

EXAMPLES = {
    "auto-refresh-before-expiry",
    "bench-refresh-cycle",
    "get-session-within-margin-refreshes",
    "get-user-ok",
    "get-user-session-not-found-transient",
    "get-user-session-not-found-verified-gone",
    "init-expired-refresh-ok",
    "init-storage-locked-then-unlocked",
    "init-valid-session",
    "refresh-session-ok",
    "sign-in-password-ok",
    "sign-out-global",
}

# Requests as the expectations spell them.
REFRESH = "POST /token?grant_type=refresh_token"
PASSWORD = "POST /token?grant_type=password"
PKCE = "POST /token?grant_type=pkce"
ID_TOKEN = "POST /token?grant_type=id_token"
SIGNUP = "POST /signup"
VERIFY = "POST /verify"
USER = "GET /user"
LOGOUT_LOCAL = "POST /logout?scope=local"
LOGOUT_GLOBAL = "POST /logout?scope=global"
LOGOUT_OTHERS = "POST /logout?scope=others"

USER_OBJ = {
    "id": "user-1",
    "aud": "authenticated",
    "role": "authenticated",
    "email": "ada@example.com",
    "app_metadata": {"provider": "email"},
    "user_metadata": {},
    "created_at": "2025-12-01T00:00:00Z",
}

HTML_PAGE = ("<!DOCTYPE html><html><head><title>Attention Required!</title></head>"
             "<body><h1>Sorry, you have been blocked</h1></body></html>")


# ---------------------------------------------------------------- building blocks

def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def compact(value):
    return json.dumps(value, separators=(",", ":"))


def jwt(tag, exp, iat=None, sub="user-1", sid="sess-1"):
    header = {"alg": "HS256", "typ": "JWT"}
    payload = {
        "sub": sub,
        "aud": "authenticated",
        "role": "authenticated",
        "exp": exp,
        "iat": exp - 3600 if iat is None else iat,
        "session_id": sid,
        "ref": tag,
    }
    return ".".join([b64url(compact(header).encode()), b64url(compact(payload).encode()),
                     b64url(("sig-" + tag).encode())])


def session(tag, exp, expires_in=3600, extra=None):
    s = {
        "access_token": jwt(tag, exp),
        "token_type": "bearer",
        "expires_in": expires_in,
        "expires_at": exp,
        "refresh_token": "rt-" + tag,
        "user": USER_OBJ,
    }
    if extra:
        s.update(extra)
    return s


def stored(tag, exp, **kw):
    """The raw string another process (or auth-js) left in storage for session <tag>."""
    return compact(session(tag, exp, **kw))


def tok(tag, issued=0, life=3600, delay=None, headers=None):
    """A 200 token answer issued `issued` s after the start, valid `life` s."""
    a = {"status": 200, "headers": dict(API if headers is None else headers),
         "body": session(tag, S0 + issued + life, expires_in=life)}
    if delay:
        a["delay_ms"] = delay
    return a


def err(status, code, msg, api=True, headers=None, delay=None, body=None):
    """A GoTrue error answer; with api=False there is no x-supabase-api-version header."""
    h = dict(API) if api else {}
    h.update(headers or {})
    a = {"status": status}
    if h:
        a["headers"] = h
    a["body"] = body if body is not None else {"code": code, "error_code": code, "msg": msg, "message": msg}
    if delay:
        a["delay_ms"] = delay
    return a


def raw(status, text, ctype="text/html"):
    return {"status": status, "headers": {"content-type": ctype}, "raw_body": text}


def net():
    return {"network_error": True}


def user_ok(uid="user-1"):
    u = dict(USER_OBJ)
    u["id"] = uid
    return {"status": 200, "headers": dict(API), "body": u}


def no_content():
    return {"status": 204, "headers": dict(API)}


E503 = err(503, "unexpected_failure", "Service Unavailable")
E429 = err(429, "over_request_rate_limit", "Request rate limit reached")
RT_NOT_FOUND = err(400, "refresh_token_not_found", "Invalid Refresh Token: Refresh Token Not Found")
RT_ALREADY_USED = err(400, "refresh_token_already_used", "Invalid Refresh Token: Already Used")
SESSION_NOT_FOUND = err(403, "session_not_found", "Session from session_id claim in JWT does not exist")

INIT = {"call": "initialize"}
RESTART = {"restart": True}


def call(name, **kw):
    c = {"call": name}
    c.update(kw)
    return c


def adv(ms):
    return {"advance_ms": ms}


def sset(value, key=KEY):
    return {"storage_set": {"key": key, "value": value}}


def sfail(op, times=1):
    return {"storage_fail": {"op": op, "times": times}}


def life(state):
    return call("lifecycle", state=state)


def network(state):
    return call("network", state=state)


GET_SESSION = call("get_session")
GET_USER = call("get_user")
REFRESH_SESSION = call("refresh_session")
STOP_AUTO = call("stop_auto_refresh")
START_AUTO = call("start_auto_refresh")
PW_SIGN_IN = call("sign_in_with_password", email="ada@example.com", password="correct horse")


def sign_out(scope):
    return call("sign_out", scope=scope)


AUTO = {"auto_refresh_token": True}

SCENARIOS = []


def sc(name, about, steps, expect, storage=None, server=None, options=None, offline_ms=None):
    assert name not in EXAMPLES, name
    assert all(s["name"] != name for s in SCENARIOS), name
    assert about.endswith(".") and about.count(". ") == 0, name
    s = {"name": name, "about": about, "start_ms": START_MS}
    if options:
        s["options"] = options
    if storage is not None:
        s["storage"] = storage
    if server:
        s["server"] = server
    if offline_ms:
        s["offline_ms"] = offline_ms
    s["steps"] = steps
    s["expect"] = expect
    SCENARIOS.append(s)


def st(tag, exp, **kw):
    """Storage holding session <tag> under the default key."""
    return {KEY: stored(tag, exp, **kw)}


EXPIRED = S0 - 600  # expired ten minutes before the start
DUE = S0 + 60       # inside the margin, not expired


# ---------------------------------------------------------------- initialize / recovery

sc("init-due-refresh-ok",
   "A stored session 60 s from expiry is refreshed at start with auto refresh on, and INITIAL_SESSION carries the new one.",
   [INIT, STOP_AUTO],
   {"events": ["TOKEN_REFRESHED", "INITIAL_SESSION"], "requests": [REFRESH], "results": {"0": "ok"},
    "initial_session": "b", "storage": {KEY: "b"}},
   storage=st("a", DUE), server={"POST /token": [tok("b")]}, options=AUTO)

sc("init-due-auto-refresh-off",
   "A stored session inside the margin is announced as it is, without a request, when auto refresh is off.",
   [INIT],
   {"events": ["INITIAL_SESSION"], "requests": [], "results": {"0": "ok"}, "initial_session": "a",
    "storage": {KEY: "a"}},
   storage=st("a", DUE))

sc("init-expired-auto-refresh-off",
   "An expired stored session is announced as it is, without a request and without SIGNED_OUT, when auto refresh is off.",
   [INIT],
   {"events": ["INITIAL_SESSION"], "requests": [], "results": {"0": "ok"}, "initial_session": "a",
    "never": ["SIGNED_OUT"], "storage": {KEY: "a"}},
   storage=st("a", EXPIRED))

sc("init-expired-refresh-dead",
   "An expired stored session whose refresh token the server rejects is removed at start: SIGNED_OUT, then INITIAL_SESSION with no session.",
   [INIT, STOP_AUTO],
   {"events": ["SIGNED_OUT", "INITIAL_SESSION"], "requests": [REFRESH], "results": {"0": "ok"},
    "last_event": "INITIAL_SESSION", "storage": {}},
   storage=st("a", EXPIRED), server={"POST /token": [RT_NOT_FOUND]}, options=AUTO)

sc("init-due-refresh-rejected-removed-by-expiry",
   "A due but unexpired session whose start-up refresh is rejected is gone once it expires, after exactly one refresh request.",
   [INIT, adv(120000)],
   {"requests": [REFRESH], "results": {"0": "ok"}, "never": ["TOKEN_REFRESHED", "SIGNED_IN"], "storage": {}},
   storage=st("a", DUE), server={"POST /token": [RT_NOT_FOUND, tok("z")]}, options=AUTO)

sc("init-offline-expired-keeps-session",
   "Starting offline with an expired session keeps it, announces it, retries in the background, serves the cooldown from cache and refreshes once the network is back.",
   [INIT, adv(30000), GET_SESSION, adv(70000), GET_SESSION],
   {"events": ["INITIAL_SESSION", "TOKEN_REFRESHED"], "requests": [REFRESH] * 9,
    "results": {"0": "ok", "2": "err:retryable_fetch", "4": "ok:b"}, "initial_session": "a",
    "never": ["SIGNED_OUT"], "storage": {KEY: "b"}},
   storage=st("a", EXPIRED), server={"POST /token": [tok("b", issued=85)]}, options=AUTO,
   offline_ms=[[0, 40000]])

sc("init-offline-due-session-kept",
   "Starting offline with a due session announces it, get_session keeps answering it while it is valid, and after expiry it gets a retryable error, never a sign-out.",
   [INIT, GET_SESSION, adv(30000), adv(40000), GET_SESSION],
   {"events": ["INITIAL_SESSION"], "requests": [REFRESH] * 8,
    "results": {"0": "ok", "1": "ok:a", "4": "err:retryable_fetch"}, "initial_session": "a",
    "never": ["SIGNED_OUT"], "storage": {KEY: "a"}},
   storage=st("a", DUE), options=AUTO, offline_ms=[[0, 600000]])

INVALID_VALUES = [
    ("init-invalid-not-json", "A stored value that is not JSON", "{\"access_token\": \"eyJ"),
    ("init-invalid-missing-refresh-token", "A stored session without a refresh_token",
     compact({k: v for k, v in session("a", H1).items() if k != "refresh_token"})),
    ("init-invalid-missing-access-token", "A stored session without an access_token",
     compact({k: v for k, v in session("a", H1).items() if k != "access_token"})),
    ("init-invalid-expires-at-string", "A stored session whose expires_at is a string",
     compact(dict(session("a", H1), expires_at=str(H1)))),
    ("init-invalid-access-token-not-string", "A stored session whose access_token is a number",
     compact(dict(session("a", H1), access_token=12345))),
    ("init-invalid-json-array", "A stored value that is a JSON array", "[\"eyJ\",\"rt-a\"]"),
]
for name, what, value in INVALID_VALUES:
    sc(name,
       what + " is no session: it is removed at start with no SIGNED_OUT and INITIAL_SESSION carries nothing.",
       [INIT, GET_SESSION],
       {"events": ["INITIAL_SESSION"], "requests": [], "results": {"0": "ok", "1": "ok:none"},
        "never": ["SIGNED_OUT"], "storage": {}},
       storage={KEY: value})

sc("init-storage-read-fails-then-get-user",
   "The read at start fails, so initialize fails with a storage error, and the next call (get_user) reads again, announces the session and uses it.",
   [sfail("read"), INIT, GET_USER],
   {"events": ["INITIAL_SESSION"], "requests": [USER], "results": {"1": "err:storage", "2": "ok"},
    "initial_session": "a", "never": ["SIGNED_OUT"], "storage": {KEY: "a"}},
   storage=st("a", H1), server={"GET /user": [user_ok()]})

sc("init-storage-read-fails-twice",
   "Two failed reads make initialize and the next get_session fail with a storage error, and nothing is announced until a read succeeds.",
   [sfail("read", 2), INIT, GET_SESSION, GET_SESSION],
   {"events": ["INITIAL_SESSION"], "requests": [],
    "results": {"1": "err:storage", "2": "err:storage", "3": "ok:a"}, "initial_session": "a",
    "never": ["SIGNED_OUT"], "storage": {KEY: "a"}},
   storage=st("a", H1))

sc("init-storage-read-fails-expired-no-decision",
   "A failed read at start decides nothing for an expired session (no request, no removal) until the next call reads it and refreshes it.",
   [sfail("read"), INIT, adv(5000), GET_SESSION],
   {"requests": [REFRESH], "results": {"1": "err:storage", "3": "ok:b"}, "never": ["SIGNED_OUT"],
    "storage": {KEY: "b"}},
   storage=st("a", EXPIRED), server={"POST /token": [tok("b", issued=5)]}, options=AUTO)

sc("init-session-with-extra-fields",
   "A session written by auth-js with extra fields (provider tokens) is read as a valid session.",
   [INIT, GET_SESSION],
   {"events": ["INITIAL_SESSION"], "requests": [], "results": {"0": "ok", "1": "ok:a"},
    "initial_session": "a", "storage": {KEY: "a"}},
   storage=st("a", H1, extra={"provider_token": "gho_provider", "provider_refresh_token": None,
                             "weak_password": None}))

sc("init-custom-storage-key",
   "With a configured storage key the session under that key is recovered and the default key is left alone.",
   [INIT, GET_SESSION],
   {"events": ["INITIAL_SESSION"], "requests": [], "results": {"1": "ok:a"}, "initial_session": "a",
    "storage": {"sb-myproj-auth-token": "a", KEY: "z"}},
   storage={"sb-myproj-auth-token": stored("a", H1), KEY: stored("z", H1)},
   options={"storage_key": "sb-myproj-auth-token"})

# ---------------------------------------------------------------- margins, get_session

sc("get-session-outside-margin-no-refresh",
   "A session 91 s from expiry is outside the 90 s margin and is returned without a request.",
   [INIT, GET_SESSION],
   {"events": ["INITIAL_SESSION"], "requests": [], "results": {"1": "ok:a"}, "storage": {KEY: "a"}},
   storage=st("a", S0 + 90), server={"POST /token": [tok("b")]})

sc("get-session-margin-boundary",
   "Exactly 90 s before expiry the session is not due, one second later get_session refreshes it.",
   [INIT, GET_SESSION, adv(1000), GET_SESSION],
   {"events": ["INITIAL_SESSION", "TOKEN_REFRESHED"], "requests": [REFRESH],
    "results": {"1": "ok:a", "3": "ok:b"}, "storage": {KEY: "b"}},
   storage=st("a", S0 + 90), server={"POST /token": [tok("b", issued=1)]})

sc("get-session-expired-refresh-ok",
   "With auto refresh off, get_session on an expired session refreshes it and returns the new one.",
   [INIT, GET_SESSION],
   {"events": ["INITIAL_SESSION", "TOKEN_REFRESHED"], "requests": [REFRESH], "results": {"1": "ok:b"},
    "storage": {KEY: "b"}},
   storage=st("a", EXPIRED), server={"POST /token": [tok("b")]})

sc("get-session-no-session",
   "get_session with nothing stored answers no session and sends nothing.",
   [INIT, GET_SESSION],
   {"events": ["INITIAL_SESSION"], "requests": [], "results": {"0": "ok", "1": "ok:none"}, "storage": {}})

sc("get-session-expired-refresh-rejected-signs-out",
   "An expired session whose refresh token is not found is removed: SIGNED_OUT and an api error keeping status and code.",
   [INIT, GET_SESSION],
   {"events": ["INITIAL_SESSION", "SIGNED_OUT"], "requests": [REFRESH],
    "results": {"1": "err:api:400:refresh_token_not_found"}, "storage": {}},
   storage=st("a", EXPIRED), server={"POST /token": [RT_NOT_FOUND]})

sc("get-session-expired-other-4xx-signs-out",
   "Any other GoTrue 4xx that rejects the refresh token of an expired session also removes it.",
   [INIT, GET_SESSION],
   {"events": ["INITIAL_SESSION", "SIGNED_OUT"], "requests": [REFRESH],
    "results": {"1": "err:api:400:validation_failed"}, "storage": {}},
   storage=st("a", EXPIRED),
   server={"POST /token": [err(400, "validation_failed", "refresh_token is malformed")]})

sc("get-session-expired-transient-keeps-session",
   "An expired session whose refresh burst fails with 503 is kept and get_session answers a retryable error, not null.",
   [INIT, GET_SESSION, adv(30000)],
   {"events": ["INITIAL_SESSION"], "requests": [REFRESH] * 8, "results": {"1": "err:retryable_fetch"},
    "never": ["SIGNED_OUT"], "storage": {KEY: "a"}},
   storage=st("a", EXPIRED), server={"POST /token": [E503] * 8})

sc("get-session-read-fails-keeps-session",
   "A storage read that fails during get_session keeps the known session and removes nothing.",
   [INIT, sfail("read"), GET_SESSION],
   {"events": ["INITIAL_SESSION"], "requests": [], "results": {"2": "ok:a"}, "never": ["SIGNED_OUT"],
    "storage": {KEY: "a"}},
   storage=st("a", H1))

# ---------------------------------------------------------------- auto refresh timer

sc("auto-refresh-timer-at-margin",
   "The auto refresh timer does not fire 91 s before expiry and has refreshed by 89 s before expiry.",
   [INIT, adv(3509000), GET_SESSION, adv(2000), STOP_AUTO],
   {"events": ["INITIAL_SESSION", "TOKEN_REFRESHED"], "requests": [REFRESH], "results": {"2": "ok:a"},
    "storage": {KEY: "b"}},
   storage=st("a", H1), server={"POST /token": [tok("b", issued=3510)]}, options=AUTO)

sc("auto-refresh-rearms-after-refresh",
   "After an automatic refresh the timer is re-armed for the new session and refreshes it again 90 s before its expiry.",
   [INIT, adv(20000), adv(3480000), GET_SESSION, adv(30000), STOP_AUTO],
   {"events": ["INITIAL_SESSION", "TOKEN_REFRESHED", "TOKEN_REFRESHED"], "requests": [REFRESH, REFRESH],
    "results": {"3": "ok:b"}, "storage": {KEY: "c"}},
   storage=st("a", S0 + 100), server={"POST /token": [tok("b", issued=10), tok("c", issued=3520)]},
   options=AUTO)

sc("auto-refresh-off-no-background-refresh",
   "With auto refresh off nothing happens in the background, even past expiry, and the session is not signed out.",
   [INIT, adv(3700000)],
   {"events": ["INITIAL_SESSION"], "requests": [], "never": ["SIGNED_OUT"], "storage": {KEY: "a"}},
   storage=st("a", H1), server={"POST /token": [tok("b")]})

sc("start-auto-refresh-refreshes-due-session",
   "Starting auto refresh on a due session refreshes it at once.",
   [INIT, START_AUTO, adv(1000), STOP_AUTO],
   {"events": ["INITIAL_SESSION", "TOKEN_REFRESHED"], "requests": [REFRESH], "storage": {KEY: "b"}},
   storage=st("a", DUE), server={"POST /token": [tok("b")]})

sc("stop-auto-refresh-stops-timer",
   "Stopping auto refresh cancels the timer: no refresh and no sign-out, even after expiry.",
   [INIT, STOP_AUTO, adv(200000)],
   {"events": ["INITIAL_SESSION"], "requests": [], "never": ["SIGNED_OUT"], "storage": {KEY: "a"}},
   storage=st("a", S0 + 100), server={"POST /token": [tok("b", issued=10)]}, options=AUTO)

# ---------------------------------------------------------------- lifecycle and network

sc("lifecycle-background-stops-auto-refresh",
   "In the background the auto refresh timer is stopped: no request and no sign-out past expiry.",
   [INIT, life("background"), adv(200000)],
   {"events": ["INITIAL_SESSION"], "requests": [], "never": ["SIGNED_OUT"], "storage": {KEY: "a"}},
   storage=st("a", S0 + 100), server={"POST /token": [tok("b", issued=10)]}, options=AUTO)

sc("lifecycle-foreground-refreshes-at-once",
   "Coming back to the foreground with an expired session refreshes it at once.",
   [INIT, life("background"), adv(200000), life("foreground"), adv(1000), STOP_AUTO],
   {"events": ["INITIAL_SESSION", "TOKEN_REFRESHED"], "requests": [REFRESH], "never": ["SIGNED_OUT"],
    "storage": {KEY: "b"}},
   storage=st("a", S0 + 100), server={"POST /token": [tok("b", issued=200)]}, options=AUTO)

sc("lifecycle-foreground-not-due-waits-for-timer",
   "Coming back to the foreground with a session that is not due sends nothing and re-arms the timer, which refreshes at the margin.",
   [INIT, life("background"), adv(600000), life("foreground"), adv(2000000), GET_SESSION, adv(1000000),
    STOP_AUTO],
   {"events": ["INITIAL_SESSION", "TOKEN_REFRESHED"], "requests": [REFRESH], "results": {"5": "ok:a"},
    "storage": {KEY: "b"}},
   storage=st("a", H1), server={"POST /token": [tok("b", issued=3510)]}, options=AUTO)

sc("network-offline-pauses-auto-refresh",
   "While the platform reports offline the auto refresh makes no attempt, and online resumes it at once.",
   [INIT, network("offline"), adv(200000), network("online"), adv(1000), STOP_AUTO],
   {"events": ["INITIAL_SESSION", "TOKEN_REFRESHED"], "requests": [REFRESH], "never": ["SIGNED_OUT"],
    "storage": {KEY: "b"}},
   storage=st("a", S0 + 100), server={"POST /token": [tok("b", issued=200)]}, options=AUTO)

sc("network-online-ends-cooldown",
   "After a failed burst the cooldown serves the cached error without a request until the network is reported back online.",
   [INIT, GET_SESSION, adv(30000), GET_SESSION, network("offline"), network("online"), GET_SESSION],
   {"events": ["INITIAL_SESSION", "TOKEN_REFRESHED"], "requests": [REFRESH] * 9,
    "results": {"1": "err:retryable_fetch", "3": "err:retryable_fetch", "6": "ok:b"},
    "never": ["SIGNED_OUT"], "storage": {KEY: "b"}},
   storage=st("a", EXPIRED), server={"POST /token": [E503] * 8 + [tok("b", issued=30)]})

# ---------------------------------------------------------------- single flight, one rotation

sc("single-flight-concurrent-get-session",
   "Three get_session calls during one slow refresh share a single request and all get the new session.",
   [INIT, GET_SESSION, GET_SESSION, GET_SESSION, adv(1000)],
   {"events": ["INITIAL_SESSION", "TOKEN_REFRESHED"], "requests": [REFRESH],
    "results": {"1": "ok:b", "2": "ok:b", "3": "ok:b"}, "storage": {KEY: "b"}},
   storage=st("a", EXPIRED), server={"POST /token": [tok("b", delay=500), tok("c")]})

sc("single-flight-mixed-callers",
   "get_session, refresh_session and get_user arriving during one slow refresh share it, and get_user then asks /user once.",
   [INIT, GET_SESSION, REFRESH_SESSION, GET_USER, adv(1000)],
   {"events": ["INITIAL_SESSION", "TOKEN_REFRESHED"], "requests": [REFRESH, USER],
    "results": {"1": "ok:b", "2": "ok:b", "3": "ok"}, "storage": {KEY: "b"}},
   storage=st("a", EXPIRED), server={"POST /token": [tok("b", delay=500), tok("c")], "GET /user": [user_ok()]})

sc("refresh-session-due-rotates-once",
   "refresh_session on a due session rotates the tokens once, with one TOKEN_REFRESHED.",
   [INIT, REFRESH_SESSION],
   {"events": ["INITIAL_SESSION", "TOKEN_REFRESHED"], "requests": [REFRESH], "results": {"1": "ok:b"},
    "storage": {KEY: "b"}},
   storage=st("a", DUE), server={"POST /token": [tok("b"), tok("c")]})

sc("refresh-session-no-session",
   "refresh_session with no session fails with session_missing and sends nothing.",
   [INIT, REFRESH_SESSION],
   {"events": ["INITIAL_SESSION"], "requests": [], "results": {"1": "err:session_missing"}, "storage": {}})

sc("refresh-session-expired-user-banned",
   "refresh_session on an expired session of a banned user removes it: SIGNED_OUT and the api error.",
   [INIT, REFRESH_SESSION],
   {"events": ["INITIAL_SESSION", "SIGNED_OUT"], "requests": [REFRESH],
    "results": {"1": "err:api:400:user_banned"}, "storage": {}},
   storage=st("a", EXPIRED), server={"POST /token": [err(400, "user_banned", "User is banned")]})

# ---------------------------------------------------------------- retry schedule, cooldown, storms

sc("refresh-retry-schedule-first-attempts",
   "Transport failures are retried at 200 and 600 ms, so 1399 ms after the first attempt three were made.",
   [INIT, GET_SESSION, adv(1399)],
   {"events": ["INITIAL_SESSION"], "requests": [REFRESH] * 3, "never": ["SIGNED_OUT"], "storage": {KEY: "a"}},
   storage=st("a", EXPIRED), server={"POST /token": [net()] * 8})

sc("refresh-retry-schedule-before-last-attempt",
   "The eighth attempt comes 25.4 s after the first, so 25.399 s after it seven attempts were made.",
   [INIT, GET_SESSION, adv(25399)],
   {"events": ["INITIAL_SESSION"], "requests": [REFRESH] * 7, "never": ["SIGNED_OUT"], "storage": {KEY: "a"}},
   storage=st("a", EXPIRED), server={"POST /token": [net()] * 8})

sc("refresh-retry-burst-then-cooldown",
   "A burst of 8 failed attempts is followed by a 60 s cooldown in which callers get the cached error without a request.",
   [INIT, GET_SESSION, adv(30000), GET_SESSION, adv(29000), GET_SESSION],
   {"events": ["INITIAL_SESSION"], "requests": [REFRESH] * 8,
    "results": {"1": "err:retryable_fetch", "3": "err:retryable_fetch", "5": "err:retryable_fetch"},
    "never": ["SIGNED_OUT"], "storage": {KEY: "a"}},
   storage=st("a", EXPIRED), server={"POST /token": [E503] * 8 + [tok("b", issued=30)]})

sc("refresh-cooldown-ends-new-burst",
   "With auto refresh on, a new burst starts when the 60 s cooldown after the last failed attempt ends, and it succeeds.",
   [INIT, adv(84000), GET_SESSION, adv(2000), GET_SESSION, STOP_AUTO],
   {"events": ["INITIAL_SESSION", "TOKEN_REFRESHED"], "requests": [REFRESH] * 9,
    "results": {"2": "err:retryable_fetch", "4": "ok:b"}, "never": ["SIGNED_OUT"], "storage": {KEY: "b"}},
   storage=st("a", EXPIRED), server={"POST /token": [E503] * 8 + [tok("b", issued=85)]}, options=AUTO)

E429_RA = err(429, "over_request_rate_limit", "Request rate limit reached", headers={"retry-after": "2"})

sc("refresh-retry-after-delays-retry",
   "A 429 with Retry-After: 2 holds the next attempt back: 1.9 s later there was still only one request.",
   [INIT, GET_SESSION, adv(1900)],
   {"events": ["INITIAL_SESSION"], "requests": [REFRESH], "never": ["SIGNED_OUT"], "storage": {KEY: "a"}},
   storage=st("a", EXPIRED), server={"POST /token": [E429_RA, tok("b", issued=2)]})

sc("refresh-retry-after-then-ok",
   "After a 429 with Retry-After: 2 the refresh is retried after 2 s and succeeds.",
   [INIT, GET_SESSION, adv(2100)],
   {"events": ["INITIAL_SESSION", "TOKEN_REFRESHED"], "requests": [REFRESH, REFRESH],
    "results": {"1": "ok:b"}, "never": ["SIGNED_OUT"], "storage": {KEY: "b"}},
   storage=st("a", EXPIRED), server={"POST /token": [E429_RA, tok("b", issued=2)]})

sc("refresh-409-conflict-retried",
   "A 409 conflict (refresh lock) is transient: retried after 200 ms, then the refresh succeeds.",
   [INIT, GET_SESSION, adv(1000)],
   {"events": ["INITIAL_SESSION", "TOKEN_REFRESHED"], "requests": [REFRESH, REFRESH],
    "results": {"1": "ok:b"}, "storage": {KEY: "b"}},
   storage=st("a", EXPIRED),
   server={"POST /token": [err(409, "conflict", "Conflict: refresh in progress"), tok("b")]})

sc("refresh-408-and-500-retried",
   "A 408 and then a 500 are transient: retried at 200 and 600 ms, then the refresh succeeds.",
   [INIT, GET_SESSION, adv(1000)],
   {"events": ["INITIAL_SESSION", "TOKEN_REFRESHED"], "requests": [REFRESH] * 3,
    "results": {"1": "ok:b"}, "storage": {KEY: "b"}},
   storage=st("a", EXPIRED),
   server={"POST /token": [err(408, "request_timeout", "Request timeout"),
                           err(500, "unexpected_failure", "Unexpected failure"), tok("b", issued=1)]})

sc("refresh-429-storm-never-signs-out",
   "A refresh answered by 429 over_request_rate_limit every time is transient: the expired session is kept and a retryable error returned.",
   [INIT, GET_SESSION, adv(30000)],
   {"events": ["INITIAL_SESSION"], "requests": [REFRESH] * 8, "results": {"1": "err:retryable_fetch"},
    "never": ["SIGNED_OUT"], "storage": {KEY: "a"}},
   storage=st("a", EXPIRED), server={"POST /token": [E429] * 8})

sc("refresh-503-storm-auto-refresh-never-signs-out",
   "Five minutes of 503 answers to automatic refreshes (bursts and cooldowns) never sign out, and get_session answers a retryable error.",
   [INIT, adv(300000), GET_SESSION],
   {"events": ["INITIAL_SESSION"], "results": {"2": "err:retryable_fetch"}, "never": ["SIGNED_OUT"],
    "storage": {KEY: "a"}},
   storage=st("a", S0 + 100), server={"POST /token": [E503] * 40}, options=AUTO)

sc("refresh-html-proxy-page-never-signs-out",
   "A 403 HTML page from a proxy in front of the auth server is transient: retried, the session is kept and a retryable error returned.",
   [INIT, GET_SESSION, adv(30000)],
   {"events": ["INITIAL_SESSION"], "requests": [REFRESH] * 8, "results": {"1": "err:retryable_fetch"},
    "never": ["SIGNED_OUT"], "storage": {KEY: "a"}},
   storage=st("a", EXPIRED), server={"POST /token": [raw(403, HTML_PAGE)] * 8})

sc("refresh-502-html-never-signs-out",
   "A 502 Bad Gateway HTML page is transient: retried and the expired session is kept.",
   [INIT, GET_SESSION, adv(30000)],
   {"events": ["INITIAL_SESSION"], "requests": [REFRESH] * 8, "results": {"1": "err:retryable_fetch"},
    "never": ["SIGNED_OUT"], "storage": {KEY: "a"}},
   storage=st("a", EXPIRED),
   server={"POST /token": [raw(502, "<html><body><h1>502 Bad Gateway</h1></body></html>")] * 8})

sc("refresh-empty-body-400-never-signs-out",
   "A 400 with an empty body is not a GoTrue error, so it is transient: retried and the expired session is kept.",
   [INIT, GET_SESSION, adv(30000)],
   {"events": ["INITIAL_SESSION"], "requests": [REFRESH] * 8, "results": {"1": "err:retryable_fetch"},
    "never": ["SIGNED_OUT"], "storage": {KEY: "a"}},
   storage=st("a", EXPIRED), server={"POST /token": [raw(400, "", "application/json")] * 8})

sc("refresh-invalid-2xx-not-json",
   "A 200 whose body is an HTML page is an invalid response: not retried, the session is kept.",
   [INIT, REFRESH_SESSION, adv(5000)],
   {"events": ["INITIAL_SESSION"], "requests": [REFRESH], "results": {"1": "err:invalid_response"},
    "never": ["SIGNED_OUT", "TOKEN_REFRESHED"], "storage": {KEY: "a"}},
   storage=st("a", H1), server={"POST /token": [raw(200, "<html><body>OK</body></html>"), tok("b")]})

sc("refresh-invalid-2xx-missing-fields",
   "A 200 token answer without refresh_token and expiry is an invalid response: not retried, the expired session is kept.",
   [INIT, GET_SESSION, adv(5000)],
   {"events": ["INITIAL_SESSION"], "requests": [REFRESH], "results": {"1": "err:invalid_response"},
    "never": ["SIGNED_OUT", "TOKEN_REFRESHED"], "storage": {KEY: "a"}},
   storage=st("a", EXPIRED),
   server={"POST /token": [{"status": 200, "headers": dict(API),
                            "body": {"access_token": jwt("b", H1), "token_type": "bearer"}}, tok("c")]})

# ---------------------------------------------------------------- other processes, already used

sc("refresh-already-used-newer-session-in-storage",
   "A refresh answered refresh_token_already_used while another process stored a newer session adopts that session instead of signing out.",
   [INIT, GET_SESSION, sset(stored("c", H1)), adv(1000)],
   {"events": ["INITIAL_SESSION", "TOKEN_REFRESHED"], "requests": [REFRESH], "never": ["SIGNED_OUT"],
    "storage": {KEY: "c"}},
   storage=st("a", EXPIRED), server={"POST /token": [dict(RT_ALREADY_USED, delay_ms=500)]})

sc("refresh-already-used-no-newer-session",
   "refresh_token_already_used with nothing newer in storage removes the expired session: SIGNED_OUT and the api error.",
   [INIT, GET_SESSION],
   {"events": ["INITIAL_SESSION", "SIGNED_OUT"], "requests": [REFRESH],
    "results": {"1": "err:api:400:refresh_token_already_used"}, "storage": {}},
   storage=st("a", EXPIRED), server={"POST /token": [RT_ALREADY_USED]})

sc("get-session-adopts-session-from-other-process",
   "get_session re-reads storage and adopts a different valid session another process stored, as TOKEN_REFRESHED.",
   [INIT, sset(stored("c", H1)), GET_SESSION],
   {"events": ["INITIAL_SESSION", "TOKEN_REFRESHED"], "requests": [], "results": {"2": "ok:c"},
    "storage": {KEY: "c"}},
   storage=st("a", H1))

sc("get-session-adopts-sign-in-from-other-process",
   "With no session, get_session adopts a session another process signed in with, as SIGNED_IN.",
   [INIT, sset(stored("c", H1)), GET_SESSION],
   {"events": ["INITIAL_SESSION", "SIGNED_IN"], "requests": [], "results": {"0": "ok", "2": "ok:c"},
    "storage": {KEY: "c"}})

sc("get-session-due-adopts-newer-without-request",
   "A due session is not refreshed when storage already holds a newer session that is not due: it is adopted without a request.",
   [INIT, sset(stored("c", H1)), GET_SESSION],
   {"events": ["INITIAL_SESSION", "TOKEN_REFRESHED"], "requests": [], "results": {"2": "ok:c"},
    "storage": {KEY: "c"}},
   storage=st("a", DUE), server={"POST /token": [tok("b")]})

sc("auto-refresh-adopts-newer-without-request",
   "The auto refresh timer re-reads storage first and adopts a newer session another process stored, without a request.",
   [INIT, sset(stored("c", H1)), adv(20000), STOP_AUTO],
   {"events": ["INITIAL_SESSION", "TOKEN_REFRESHED"], "requests": [], "never": ["SIGNED_OUT"],
    "storage": {KEY: "c"}},
   storage=st("a", S0 + 100), server={"POST /token": [tok("b", issued=10)]}, options=AUTO)

sc("get-user-adopts-newer-session",
   "get_user re-reads storage, adopts the newer session another process stored and asks /user with it.",
   [INIT, sset(stored("c", H1)), GET_USER],
   {"events": ["INITIAL_SESSION", "TOKEN_REFRESHED"], "requests": [USER], "results": {"2": "ok"},
    "storage": {KEY: "c"}},
   storage=st("a", H1), server={"GET /user": [user_ok()]})

# ---------------------------------------------------------------- proactive preserve

sc("get-session-proactive-rejected-kept-until-expiry",
   "A proactive refresh rejected while the access token is still valid keeps the session without a second request, until a timer removes it at expiry.",
   [INIT, GET_SESSION, GET_SESSION, adv(61000), GET_SESSION],
   {"events": ["INITIAL_SESSION", "SIGNED_OUT"], "requests": [REFRESH],
    "results": {"1": "ok:a", "2": "ok:a", "4": "ok:none"}, "storage": {}},
   storage=st("a", DUE), server={"POST /token": [RT_NOT_FOUND, tok("z")]})

sc("refresh-session-proactive-rejected-returns-error",
   "refresh_session rejected while the access token is valid returns the api error, keeps the session, and a timer signs out at expiry.",
   [INIT, REFRESH_SESSION, GET_SESSION, adv(3601000), GET_SESSION],
   {"events": ["INITIAL_SESSION", "SIGNED_OUT"], "requests": [REFRESH],
    "results": {"1": "err:api:400:refresh_token_not_found", "2": "ok:a", "4": "ok:none"}, "storage": {}},
   storage=st("a", H1), server={"POST /token": [RT_NOT_FOUND, tok("z")]})

sc("auto-refresh-proactive-rejected-expiry-timer",
   "An automatic refresh rejected 90 s before expiry keeps the session until expires_at, then SIGNED_OUT, with one request.",
   [INIT, adv(50000), GET_SESSION, adv(150000)],
   {"events": ["INITIAL_SESSION", "SIGNED_OUT"], "requests": [REFRESH], "results": {"2": "ok:a"},
    "storage": {}},
   storage=st("a", S0 + 100), server={"POST /token": [RT_NOT_FOUND, tok("z")]}, options=AUTO)

# ---------------------------------------------------------------- commit guard

sc("sign-out-during-refresh-discards-answer",
   "A local sign-out while a slow refresh is in flight wins: the late answer is discarded, nothing is written and the waiting caller gets refresh_discarded.",
   [INIT, GET_SESSION, sign_out("local"), adv(2000)],
   {"events": ["INITIAL_SESSION", "SIGNED_OUT"], "requests": [REFRESH, LOGOUT_LOCAL],
    "results": {"1": "err:refresh_discarded", "2": "ok"}, "never": ["TOKEN_REFRESHED"], "storage": {}},
   storage=st("a", EXPIRED), server={"POST /token": [tok("b", delay=1000)], "POST /logout": [no_content()]})

sc("sign-in-during-refresh-discards-answer",
   "A password sign-in while a slow refresh of the old session is in flight wins: the late answer is discarded and the waiting get_session answers the new session.",
   [INIT, GET_SESSION, PW_SIGN_IN, adv(2000)],
   {"events": ["INITIAL_SESSION", "SIGNED_IN"], "requests": [REFRESH, PASSWORD],
    "results": {"1": "ok:p", "2": "ok:p"}, "never": ["TOKEN_REFRESHED"],
    "storage": {KEY: "p"}},
   storage=st("a", EXPIRED), server={"POST /token": [tok("b", delay=1000), tok("p")]})

# ---------------------------------------------------------------- get_user and the verify policy

sc("get-user-session-not-found-after-verify-unconfirmed",
   "session_not_found from /user, a successful verification refresh, and session_not_found again from a lagging replica is no verdict: the session is kept, no SIGNED_OUT, session_unconfirmed.",
   [INIT, GET_USER, GET_SESSION],
   {"events": ["INITIAL_SESSION", "TOKEN_REFRESHED"], "requests": [USER, REFRESH, USER],
    "results": {"1": "err:session_unconfirmed", "2": "ok:b"}, "never": ["SIGNED_OUT"], "storage": {KEY: "b"}},
   storage=st("a", H1), server={"GET /user": [SESSION_NOT_FOUND, SESSION_NOT_FOUND], "POST /token": [tok("b")]})

sc("get-user-session-not-found-refresh-transient",
   "session_not_found from /user with a verification refresh that fails on the network keeps the session and returns a retryable error.",
   [INIT, GET_USER],
   {"events": ["INITIAL_SESSION"], "requests": [USER, REFRESH], "results": {"1": "err:retryable_fetch"},
    "never": ["SIGNED_OUT"], "storage": {KEY: "a"}},
   storage=st("a", H1), server={"GET /user": [SESSION_NOT_FOUND, user_ok()], "POST /token": [net()] * 8})

sc("get-user-session-not-found-auto-refresh-on",
   "The verify policy is the same with auto refresh on: one verification refresh, one retry of /user, the user is returned.",
   [INIT, GET_USER, STOP_AUTO],
   {"events": ["INITIAL_SESSION", "TOKEN_REFRESHED"], "requests": [USER, REFRESH, USER],
    "results": {"1": "ok"}, "never": ["SIGNED_OUT"], "storage": {KEY: "b"}},
   storage=st("a", H1), server={"GET /user": [SESSION_NOT_FOUND, user_ok()], "POST /token": [tok("b")]},
   options=AUTO)

sc("get-user-user-not-found-verified-gone",
   "user_not_found from /user is verified by a refresh, which answers user_banned: removed, SIGNED_OUT, session_missing.",
   [INIT, GET_USER],
   {"events": ["INITIAL_SESSION", "SIGNED_OUT"], "requests": [USER, REFRESH],
    "results": {"1": "err:session_missing"}, "storage": {}},
   storage=st("a", H1),
   server={"GET /user": [err(403, "user_not_found", "User from sub claim in JWT does not exist")],
           "POST /token": [err(400, "user_banned", "User is banned")]})

sc("get-user-session-expired-verified-ok",
   "session_expired from /user is a suspicion: the verification refresh succeeds and the retried /user answers the user.",
   [INIT, GET_USER],
   {"events": ["INITIAL_SESSION", "TOKEN_REFRESHED"], "requests": [USER, REFRESH, USER],
    "results": {"1": "ok"}, "never": ["SIGNED_OUT"], "storage": {KEY: "b"}},
   storage=st("a", H1),
   server={"GET /user": [err(403, "session_expired", "Session has expired"), user_ok()], "POST /token": [tok("b")]})

sc("get-user-session-expired-verified-gone",
   "session_expired from /user confirmed by a refresh answering session_expired removes the session with session_missing.",
   [INIT, GET_USER],
   {"events": ["INITIAL_SESSION", "SIGNED_OUT"], "requests": [USER, REFRESH],
    "results": {"1": "err:session_missing"}, "storage": {}},
   storage=st("a", H1),
   server={"GET /user": [err(403, "session_expired", "Session has expired")],
           "POST /token": [err(400, "session_expired", "Session has expired")]})

sc("get-user-bad-jwt-verified-ok",
   "401 bad_jwt from /user triggers one verification refresh and one retry, which answers the user.",
   [INIT, GET_USER],
   {"events": ["INITIAL_SESSION", "TOKEN_REFRESHED"], "requests": [USER, REFRESH, USER],
    "results": {"1": "ok"}, "never": ["SIGNED_OUT"], "storage": {KEY: "b"}},
   storage=st("a", H1),
   server={"GET /user": [err(401, "bad_jwt", "invalid JWT: unable to parse or verify signature"), user_ok()],
           "POST /token": [tok("b")]})

sc("get-user-bad-jwt-token-expired-skewed-clock",
   "A device clock 10 min behind the server gets 401 bad_jwt token is expired for a token it thinks valid: one refresh, one retry, and the corrected clock keeps the new token fresh.",
   [INIT, GET_USER, GET_SESSION],
   {"events": ["INITIAL_SESSION", "TOKEN_REFRESHED"], "requests": [USER, REFRESH, USER],
    "results": {"1": "ok", "2": "ok:b"}, "never": ["SIGNED_OUT"], "storage": {KEY: "b"}},
   storage=st("a", S0 + 300),
   server={"GET /user": [err(401, "bad_jwt", "invalid JWT: unable to parse or verify signature, token has invalid claims: token is expired"),
                         user_ok()],
           "POST /token": [tok("b", issued=600)]})

sc("get-user-session-not-found-code-from-header",
   "Without an API-version header and without a code in the body, the x-sb-error-code header session_not_found still starts verification.",
   [INIT, GET_USER],
   {"events": ["INITIAL_SESSION", "TOKEN_REFRESHED"], "requests": [USER, REFRESH, USER],
    "results": {"1": "ok"}, "never": ["SIGNED_OUT"], "storage": {KEY: "b"}},
   storage=st("a", H1),
   server={"GET /user": [err(403, None, None, api=False, headers={"x-sb-error-code": "session_not_found"},
                             body={"msg": "Session from session_id claim in JWT does not exist"}),
                         user_ok()],
           "POST /token": [tok("b")]})

sc("get-user-session-not-found-legacy-error-code",
   "An older server without an API-version header puts the code in error_code (code is the status number): verification runs and the refresh confirms the session is gone.",
   [INIT, GET_USER],
   {"events": ["INITIAL_SESSION", "SIGNED_OUT"], "requests": [USER, REFRESH],
    "results": {"1": "err:session_missing"}, "storage": {}},
   storage=st("a", H1),
   server={"GET /user": [err(403, None, None, api=False,
                             body={"code": 403, "error_code": "session_not_found",
                                   "msg": "Session from session_id claim in JWT does not exist"})],
           "POST /token": [err(400, None, None, api=False,
                               body={"code": 400, "error_code": "refresh_token_not_found",
                                     "msg": "Invalid Refresh Token: Refresh Token Not Found"})]})

# ---------------------------------------------------------------- get_user: session_unconfirmed, verify cooldown
#
# A verify refresh that succeeds proves the session alive (the refresh endpoint is answered by the
# primary): a /user suspicion after it, from a replica lagging longer than the verify round trip, is
# answered session_unconfirmed (retryable) and the session is kept. Within verify_cooldown (30 s by
# default) of that refresh a new suspicion is answered session_unconfirmed at once, with no refresh;
# after it the next suspicion verifies again, so a revocation is still found and cleaned up.

USER_NOT_FOUND = err(403, "user_not_found", "User from sub claim in JWT does not exist")
BAD_JWT = err(401, "bad_jwt", "invalid JWT: unable to parse or verify signature")
SESSION_EXPIRED = err(403, "session_expired", "Session has expired")
COOLDOWN_MS = 30000
SESSION_NOT_FOUND_LATE = err(403, "session_not_found", "Session from session_id claim in JWT does not exist", delay=1000)

for code, answer, what in [("bad-jwt", BAD_JWT, "401 bad_jwt"), ("user-not-found", USER_NOT_FOUND, "403 user_not_found"),
                           ("session-expired", SESSION_EXPIRED, "403 session_expired")]:
    sc("get-user-%s-after-verify-unconfirmed" % code,
       what + " from /user again after a successful verification refresh is no verdict either: the session is kept, no SIGNED_OUT, session_unconfirmed.",
       [INIT, GET_USER, GET_SESSION],
       {"events": ["INITIAL_SESSION", "TOKEN_REFRESHED"], "requests": [USER, REFRESH, USER],
        "results": {"1": "err:session_unconfirmed", "2": "ok:b"}, "never": ["SIGNED_OUT"], "storage": {KEY: "b"}},
       storage=st("a", H1), server={"GET /user": [answer, answer], "POST /token": [tok("b")]})

sc("get-user-session-not-found-within-cooldown-no-refresh",
   "Three more get_user calls within the 30 s verify cooldown, each answered session_not_found, make no refresh: each sends only its /user request and ends session_unconfirmed, the session kept.",
   [INIT, GET_USER, adv(1000), GET_USER, GET_USER, adv(28000), GET_USER, GET_SESSION],
   {"events": ["INITIAL_SESSION", "TOKEN_REFRESHED"], "requests": [USER, REFRESH, USER, USER, USER, USER],
    "results": {"1": "err:session_unconfirmed", "3": "err:session_unconfirmed", "4": "err:session_unconfirmed",
                "6": "err:session_unconfirmed", "7": "ok:b"},
    "never": ["SIGNED_OUT"], "storage": {KEY: "b"}},
   storage=st("a", H1), server={"GET /user": [SESSION_NOT_FOUND] * 5, "POST /token": [tok("b"), tok("z")]})

sc("get-user-verify-cooldown-boundary",
   "A suspicion 1 ms before the 30 s verify cooldown ends makes no refresh, and one at its end verifies again: refresh, retry, the user is returned.",
   [INIT, GET_USER, adv(COOLDOWN_MS - 1), GET_USER, adv(1), GET_USER],
   {"events": ["INITIAL_SESSION", "TOKEN_REFRESHED", "TOKEN_REFRESHED"],
    "requests": [USER, REFRESH, USER, USER, USER, REFRESH, USER],
    "results": {"1": "err:session_unconfirmed", "3": "err:session_unconfirmed", "5": "ok"},
    "never": ["SIGNED_OUT"], "storage": {KEY: "c"}},
   storage=st("a", H1),
   server={"GET /user": [SESSION_NOT_FOUND] * 4 + [user_ok()], "POST /token": [tok("b"), tok("c", issued=30)]})

for suffix, options, what in [("", None, "with auto refresh off (server-side rendering)"),
                              ("-auto-refresh-on", AUTO, "with auto refresh on (its timer is due only 90 s before the hour-long tokens expire)")]:
    sc("get-user-after-cooldown-revoked-signs-out" + suffix,
       "A session kept as session_unconfirmed and revoked afterwards is found out by the first suspicion after the 30 s verify cooldown " + what + ": the refresh answers refresh_token_not_found, SIGNED_OUT, storage emptied, session_missing.",
       [INIT, GET_USER, adv(COOLDOWN_MS + 1000), GET_USER, GET_SESSION],
       {"events": ["INITIAL_SESSION", "TOKEN_REFRESHED", "SIGNED_OUT"], "requests": [USER, REFRESH, USER, USER, REFRESH],
        "results": {"1": "err:session_unconfirmed", "3": "err:session_missing", "4": "ok:none"},
        "last_event": "SIGNED_OUT", "storage": {}},
       storage=st("a", H1), server={"GET /user": [SESSION_NOT_FOUND] * 3, "POST /token": [tok("b"), RT_NOT_FOUND]},
       options=options)

sc("get-user-verify-cooldown-zero-verifies-again",
   "With verify_cooldown_ms 0 a suspicion right after a session_unconfirmed verifies again: a second refresh, a retry, the user is returned.",
   [INIT, GET_USER, GET_USER],
   {"events": ["INITIAL_SESSION", "TOKEN_REFRESHED", "TOKEN_REFRESHED"],
    "requests": [USER, REFRESH, USER, USER, REFRESH, USER],
    "results": {"1": "err:session_unconfirmed", "2": "ok"}, "never": ["SIGNED_OUT"], "storage": {KEY: "c"}},
   storage=st("a", H1),
   server={"GET /user": [SESSION_NOT_FOUND] * 3 + [user_ok()], "POST /token": [tok("b"), tok("c")]},
   options={"verify_cooldown_ms": 0})

sc("get-user-sign-out-during-retried-user-stays-signed-out",
   "A local sign-out while the /user retried after a verification refresh is in flight wins: the late session_not_found ends get_user with session_missing, nothing comes back, SIGNED_OUT once.",
   [INIT, GET_USER, sign_out("local"), adv(2000), GET_SESSION],
   {"events": ["INITIAL_SESSION", "TOKEN_REFRESHED", "SIGNED_OUT"], "requests": [USER, REFRESH, USER, LOGOUT_LOCAL],
    "results": {"1": "err:session_missing", "2": "ok", "4": "ok:none"}, "last_event": "SIGNED_OUT", "storage": {}},
   storage=st("a", H1),
   server={"GET /user": [SESSION_NOT_FOUND, SESSION_NOT_FOUND_LATE],
           "POST /token": [tok("b")], "POST /logout": [no_content()]})

sc("get-user-sign-in-during-retried-user-asks-about-new-session",
   "A sign-in while the /user retried after a verification refresh is in flight: its late session_not_found is about the old session, so /user is asked about the new one, whose suspicion is verified afresh (no cooldown carried over) and answered with the user.",
   [INIT, GET_USER, PW_SIGN_IN, adv(2000)],
   {"events": ["INITIAL_SESSION", "TOKEN_REFRESHED", "SIGNED_IN", "TOKEN_REFRESHED"],
    "requests": [USER, REFRESH, USER, PASSWORD, USER, REFRESH, USER],
    "results": {"1": "ok", "2": "ok:p"}, "never": ["SIGNED_OUT"], "storage": {KEY: "q"}},
   storage=st("a", H1),
   server={"GET /user": [SESSION_NOT_FOUND, SESSION_NOT_FOUND_LATE,
                         SESSION_NOT_FOUND, user_ok()],
           "POST /token": [tok("b"), tok("p"), tok("q", issued=1)]})

sc("get-user-due-refreshes-first",
   "get_user on a due session refreshes first and asks /user with the new access token.",
   [INIT, GET_USER],
   {"events": ["INITIAL_SESSION", "TOKEN_REFRESHED"], "requests": [REFRESH, USER], "results": {"1": "ok"},
    "storage": {KEY: "b"}},
   storage=st("a", DUE), server={"POST /token": [tok("b")], "GET /user": [user_ok()]})

sc("get-user-no-session",
   "get_user with no session fails with session_missing at once and sends nothing.",
   [INIT, GET_USER],
   {"events": ["INITIAL_SESSION"], "requests": [], "results": {"1": "err:session_missing"}, "storage": {}},
   server={"GET /user": [user_ok()]})

sc("get-user-503-returned-not-retried",
   "A 503 from /user is returned as a retryable error at once, not retried, and the session is kept.",
   [INIT, GET_USER, adv(5000)],
   {"events": ["INITIAL_SESSION"], "requests": [USER], "results": {"1": "err:retryable_fetch"},
    "never": ["SIGNED_OUT"], "storage": {KEY: "a"}},
   storage=st("a", H1), server={"GET /user": [E503, user_ok()]})

sc("get-user-429-returned",
   "A 429 from /user is a retryable error, not retried, and the session is kept.",
   [INIT, GET_USER, adv(5000)],
   {"events": ["INITIAL_SESSION"], "requests": [USER], "results": {"1": "err:retryable_fetch"},
    "never": ["SIGNED_OUT"], "storage": {KEY: "a"}},
   storage=st("a", H1), server={"GET /user": [E429, user_ok()]})

sc("get-user-network-error",
   "A transport failure on /user is a retryable error and the session is kept.",
   [INIT, GET_USER],
   {"events": ["INITIAL_SESSION"], "requests": [USER], "results": {"1": "err:retryable_fetch"},
    "never": ["SIGNED_OUT"], "storage": {KEY: "a"}},
   storage=st("a", H1), server={"GET /user": [net()]})

sc("get-user-other-4xx-returned",
   "A 401 that is not bad_jwt is no suspicion: returned as an api error with status and code, no refresh, session kept.",
   [INIT, GET_USER],
   {"events": ["INITIAL_SESSION"], "requests": [USER], "results": {"1": "err:api:401:no_authorization"},
    "never": ["SIGNED_OUT"], "storage": {KEY: "a"}},
   storage=st("a", H1),
   server={"GET /user": [err(401, "no_authorization", "This endpoint requires a Bearer token")],
           "POST /token": [tok("b")]})

sc("get-user-html-403-transient",
   "A 403 HTML page from a proxy on /user is transient: a retryable error, no refresh, session kept.",
   [INIT, GET_USER],
   {"events": ["INITIAL_SESSION"], "requests": [USER], "results": {"1": "err:retryable_fetch"},
    "never": ["SIGNED_OUT"], "storage": {KEY: "a"}},
   storage=st("a", H1), server={"GET /user": [raw(403, HTML_PAGE)], "POST /token": [tok("b")]})

# ---------------------------------------------------------------- get_user_with_jwt

X_JWT = jwt("x", H1, sub="user-2", sid="sess-2")

sc("get-user-with-jwt-ok",
   "get_user_with_jwt asks /user with the given token and stores nothing.",
   [INIT, call("get_user_with_jwt", jwt=X_JWT)],
   {"events": ["INITIAL_SESSION"], "requests": [USER], "results": {"1": "ok"}, "storage": {}},
   server={"GET /user": [user_ok("user-2")]})

sc("get-user-with-jwt-session-not-found-keeps-session",
   "session_not_found for a caller-supplied token never touches the stored session: no refresh, no removal, no event.",
   [INIT, call("get_user_with_jwt", jwt=X_JWT), GET_SESSION],
   {"events": ["INITIAL_SESSION"], "requests": [USER], "results": {"2": "ok:a"}, "never": ["SIGNED_OUT"],
    "storage": {KEY: "a"}},
   storage=st("a", H1), server={"GET /user": [SESSION_NOT_FOUND], "POST /token": [tok("b")]})

sc("get-user-with-jwt-bad-jwt-no-refresh",
   "401 bad_jwt for a caller-supplied token is returned as an api error without a verification refresh.",
   [INIT, call("get_user_with_jwt", jwt=X_JWT)],
   {"events": ["INITIAL_SESSION"], "requests": [USER], "results": {"1": "err:api:401:bad_jwt"},
    "never": ["SIGNED_OUT", "TOKEN_REFRESHED"], "storage": {KEY: "a"}},
   storage=st("a", H1),
   server={"GET /user": [err(401, "bad_jwt", "invalid JWT: unable to parse or verify signature")],
           "POST /token": [tok("b")]})

# ---------------------------------------------------------------- set_session

def set_session(tag, exp):
    return call("set_session", access_token=jwt(tag, exp), refresh_token="rt-" + tag)


sc("set-session-valid-access-token",
   "set_session with a valid access token checks it with /user, stores it and emits SIGNED_IN.",
   [INIT, set_session("s", H1)],
   {"events": ["INITIAL_SESSION", "SIGNED_IN"], "requests": [USER], "results": {"1": "ok:s"},
    "storage": {KEY: "s"}},
   server={"GET /user": [user_ok()]})

sc("set-session-replaces-stored-session",
   "set_session with a valid token replaces the stored session with SIGNED_IN.",
   [INIT, set_session("s", H1)],
   {"events": ["INITIAL_SESSION", "SIGNED_IN"], "requests": [USER], "results": {"1": "ok:s"},
    "never": ["SIGNED_OUT", "TOKEN_REFRESHED"], "storage": {KEY: "s"}},
   storage=st("a", H1), server={"GET /user": [user_ok()]})

sc("set-session-expired-refreshes",
   "set_session with an expired access token refreshes with the given refresh token and emits SIGNED_IN, not TOKEN_REFRESHED.",
   [INIT, set_session("t", EXPIRED)],
   {"events": ["INITIAL_SESSION", "SIGNED_IN"], "requests": [REFRESH], "results": {"1": "ok:u"},
    "never": ["TOKEN_REFRESHED"], "storage": {KEY: "u"}},
   server={"POST /token": [tok("u")]})

sc("set-session-invalid-jwt",
   "set_session with an access token that is not a JWT fails with invalid_input, sends nothing and leaves the stored session alone.",
   [INIT, call("set_session", access_token="not-a-jwt", refresh_token="rt-s")],
   {"events": ["INITIAL_SESSION"], "requests": [], "results": {"1": "err:invalid_input"},
    "storage": {KEY: "a"}},
   storage=st("a", H1), server={"GET /user": [user_ok()], "POST /token": [tok("u")]})

sc("set-session-expired-refresh-rejected-keeps-stored",
   "A rejected refresh of the tokens given to set_session fails the call and never touches the unrelated stored session.",
   [INIT, set_session("t", EXPIRED), GET_SESSION],
   {"events": ["INITIAL_SESSION"], "requests": [REFRESH],
    "results": {"1": "err:api:400:refresh_token_not_found", "2": "ok:a"}, "never": ["SIGNED_OUT"],
    "storage": {KEY: "a"}},
   storage=st("a", H1), server={"POST /token": [RT_NOT_FOUND]})

sc("set-session-user-503-keeps-stored",
   "A 503 from /user during set_session fails the call with a retryable error and keeps the stored session.",
   [INIT, set_session("s", H1)],
   {"events": ["INITIAL_SESSION"], "requests": [USER], "results": {"1": "err:retryable_fetch"},
    "never": ["SIGNED_OUT", "SIGNED_IN"], "storage": {KEY: "a"}},
   storage=st("a", H1), server={"GET /user": [E503]})

sc("set-session-own-flight-during-refresh",
   "set_session with other expired tokens during a slow refresh of the stored session is its own flight, and the replaced session's late answer is discarded.",
   [INIT, REFRESH_SESSION, set_session("t", EXPIRED), adv(2000)],
   {"events": ["INITIAL_SESSION", "SIGNED_IN"], "requests": [REFRESH, REFRESH],
    "results": {"1": "err:refresh_discarded", "2": "ok:u"}, "never": ["TOKEN_REFRESHED"],
    "storage": {KEY: "u"}},
   storage=st("a", EXPIRED), server={"POST /token": [tok("b", delay=1000), tok("u")]})

sc("set-session-waiting-for-init-own-tokens-rejected-discarded",
   "set_session with the stored session's own refresh token, called while initialize refreshes that expired session, is discarded when the refresh is rejected: the tokens the server just declared dead are not stored again.",
   [INIT, call("set_session", access_token=jwt("x", H1), refresh_token="rt-a"), adv(2000), STOP_AUTO],
   {"events": ["SIGNED_OUT", "INITIAL_SESSION"], "requests": [REFRESH],
    "results": {"0": "ok", "1": "err:refresh_discarded"}, "never": ["SIGNED_IN"], "storage": {}},
   storage=st("a", EXPIRED), server={"POST /token": [err(400, "refresh_token_not_found", "Invalid Refresh Token: Refresh Token Not Found", delay=1000)],
                                     "GET /user": [user_ok()]}, options=AUTO)

sc("set-session-waiting-for-init-other-tokens-go-on",
   "set_session with the tokens of another server session, called while initialize refreshes an expired stored session, goes on when that refresh is rejected: a verdict about the stored session is none about the given tokens.",
   [INIT, call("set_session", access_token=jwt("t", H1, sid="sess-2"), refresh_token="rt-t"), adv(2000), STOP_AUTO],
   {"events": ["SIGNED_OUT", "INITIAL_SESSION", "SIGNED_IN"], "requests": [REFRESH, USER],
    "results": {"0": "ok", "1": "ok:t"}, "storage": {KEY: "t"}},
   storage=st("a", EXPIRED), server={"POST /token": [err(400, "refresh_token_not_found", "Invalid Refresh Token: Refresh Token Not Found", delay=1000)],
                                     "GET /user": [user_ok()]}, options=AUTO)

# ---------------------------------------------------------------- sign-ins

sc("sign-in-password-invalid-credentials",
   "A rejected password sign-in returns the api error and leaves the stored session as it was.",
   [INIT, PW_SIGN_IN],
   {"events": ["INITIAL_SESSION"], "requests": [PASSWORD], "results": {"1": "err:api:400:invalid_credentials"},
    "never": ["SIGNED_OUT", "SIGNED_IN"], "storage": {KEY: "a"}},
   storage=st("a", H1), server={"POST /token": [err(400, "invalid_credentials", "Invalid login credentials")]})

sc("sign-in-password-network-error-not-retried",
   "A password sign-in that fails on the network returns a retryable error at once and is not retried.",
   [INIT, PW_SIGN_IN, adv(5000)],
   {"events": ["INITIAL_SESSION"], "requests": [PASSWORD], "results": {"1": "err:retryable_fetch"},
    "storage": {}},
   server={"POST /token": [net(), tok("p")]})

sc("sign-in-password-replaces-session",
   "A password sign-in over an existing session stores the new one and emits SIGNED_IN.",
   [INIT, PW_SIGN_IN],
   {"events": ["INITIAL_SESSION", "SIGNED_IN"], "requests": [PASSWORD], "results": {"1": "ok:p"},
    "never": ["SIGNED_OUT"], "storage": {KEY: "p"}},
   storage=st("a", H1), server={"POST /token": [tok("p")]})

sc("sign-in-password-invalid-2xx-body",
   "A 200 answer to a password sign-in that is not JSON is an invalid response and stores nothing.",
   [INIT, PW_SIGN_IN],
   {"events": ["INITIAL_SESSION"], "requests": [PASSWORD], "results": {"1": "err:invalid_response"},
    "never": ["SIGNED_IN"], "storage": {}},
   server={"POST /token": [raw(200, "<html><body>Welcome</body></html>")]})

VERIFIER = json.dumps("pkce-verifier-0123456789abcdefghijklmnopqrstuvwxyz")
VERIFIER_RECOVERY = json.dumps("pkce-verifier-0123456789abcdefghijklmnopqrstuvwxyz/PASSWORD_RECOVERY")

sc("exchange-code-ok",
   "A PKCE code exchange sends the stored verifier to /token?grant_type=pkce, stores the session and emits SIGNED_IN.",
   [INIT, call("exchange_code", auth_code="auth-code-123")],
   {"events": ["INITIAL_SESSION", "SIGNED_IN"], "requests": [PKCE], "results": {"1": "ok:x"},
    "storage": {KEY: "x"}},
   storage={VERIFIER_KEY: VERIFIER}, server={"POST /token": [tok("x")]})

sc("exchange-code-password-recovery",
   "A PKCE code exchange whose verifier is marked PASSWORD_RECOVERY emits PASSWORD_RECOVERY instead of SIGNED_IN.",
   [INIT, call("exchange_code", auth_code="auth-code-123")],
   {"events": ["INITIAL_SESSION", "PASSWORD_RECOVERY"], "requests": [PKCE], "results": {"1": "ok:x"},
    "never": ["SIGNED_IN"], "storage": {KEY: "x"}},
   storage={VERIFIER_KEY: VERIFIER_RECOVERY}, server={"POST /token": [tok("x")]})

sc("exchange-code-flow-state-not-found",
   "A PKCE code exchange the server rejects returns the api error and stores no session.",
   [INIT, call("exchange_code", auth_code="auth-code-123")],
   {"events": ["INITIAL_SESSION"], "requests": [PKCE], "results": {"1": "err:api:404:flow_state_not_found"},
    "never": ["SIGNED_IN"], "storage": {}},
   storage={VERIFIER_KEY: VERIFIER},
   server={"POST /token": [err(404, "flow_state_not_found", "invalid flow state, no valid flow state found")]})

sc("exchange-code-password-recovery-authjs-suffix",
   "A verifier written by auth-js for a password recovery ends in /recovery and also makes the exchange emit PASSWORD_RECOVERY.",
   [INIT, call("exchange_code", auth_code="auth-code-123")],
   {"events": ["INITIAL_SESSION", "PASSWORD_RECOVERY"], "requests": [PKCE], "results": {"1": "ok:x"},
    "never": ["SIGNED_IN"], "storage": {KEY: "x"}},
   storage={VERIFIER_KEY: json.dumps("pkce-verifier-0123456789abcdefghijklmnopqrstuvwxyz/recovery")},
   server={"POST /token": [tok("x")]})

ID_TOKEN_CALL = call("sign_in_with_id_token", provider="google", token="google-id-token-abc")

sc("sign-in-id-token-ok",
   "An id_token sign-in posts to /token?grant_type=id_token, stores the session and emits SIGNED_IN.",
   [INIT, ID_TOKEN_CALL],
   {"events": ["INITIAL_SESSION", "SIGNED_IN"], "requests": [ID_TOKEN], "results": {"1": "ok:g"},
    "storage": {KEY: "g"}},
   server={"POST /token": [tok("g")]})

sc("sign-in-id-token-rejected",
   "A rejected id_token sign-in returns the api error and stores nothing.",
   [INIT, ID_TOKEN_CALL],
   {"events": ["INITIAL_SESSION"], "requests": [ID_TOKEN], "results": {"1": "err:api:400:validation_failed"},
    "never": ["SIGNED_IN"], "storage": {}},
   server={"POST /token": [err(400, "validation_failed", "Bad ID token")]})

sc("sign-in-anonymously-ok",
   "An anonymous sign-in posts to /signup, stores the session and emits SIGNED_IN.",
   [INIT, call("sign_in_anonymously")],
   {"events": ["INITIAL_SESSION", "SIGNED_IN"], "requests": [SIGNUP], "results": {"1": "ok:n"},
    "storage": {KEY: "n"}},
   server={"POST /signup": [tok("n")]})

sc("sign-in-anonymously-disabled",
   "An anonymous sign-in the server has disabled returns the api error and stores nothing.",
   [INIT, call("sign_in_anonymously")],
   {"events": ["INITIAL_SESSION"], "requests": [SIGNUP],
    "results": {"1": "err:api:422:anonymous_provider_disabled"}, "never": ["SIGNED_IN"], "storage": {}},
   server={"POST /signup": [err(422, "anonymous_provider_disabled", "Anonymous sign-ins are disabled")]})

sc("verify-otp-email-ok",
   "Verifying an email OTP posts to /verify, stores the session and emits SIGNED_IN.",
   [INIT, call("verify_otp", email="ada@example.com", token="123456", type="email")],
   {"events": ["INITIAL_SESSION", "SIGNED_IN"], "requests": [VERIFY], "results": {"1": "ok:o"},
    "storage": {KEY: "o"}},
   server={"POST /verify": [tok("o")]})

sc("verify-otp-recovery",
   "Verifying a recovery OTP stores the session and emits PASSWORD_RECOVERY instead of SIGNED_IN.",
   [INIT, call("verify_otp", email="ada@example.com", token="123456", type="recovery")],
   {"events": ["INITIAL_SESSION", "PASSWORD_RECOVERY"], "requests": [VERIFY], "results": {"1": "ok:o"},
    "never": ["SIGNED_IN"], "storage": {KEY: "o"}},
   server={"POST /verify": [tok("o")]})

sc("verify-otp-expired",
   "An expired OTP returns the api error and stores nothing.",
   [INIT, call("verify_otp", email="ada@example.com", token="123456", type="email")],
   {"events": ["INITIAL_SESSION"], "requests": [VERIFY], "results": {"1": "err:api:403:otp_expired"},
    "never": ["SIGNED_IN"], "storage": {}},
   server={"POST /verify": [err(403, "otp_expired", "Token has expired or is invalid")]})

# ---------------------------------------------------------------- sign-out

sc("sign-out-local-online",
   "A local sign-out removes the session, emits SIGNED_OUT and then tells the server with scope=local.",
   [INIT, sign_out("local")],
   {"events": ["INITIAL_SESSION", "SIGNED_OUT"], "requests": [LOGOUT_LOCAL], "results": {"1": "ok"},
    "storage": {}},
   storage=st("a", H1), server={"POST /logout": [no_content()]})

sc("sign-out-local-offline",
   "A local sign-out works offline: the session is removed, SIGNED_OUT is emitted and the call succeeds although /logout fails.",
   [INIT, sign_out("local")],
   {"events": ["INITIAL_SESSION", "SIGNED_OUT"], "requests": [LOGOUT_LOCAL], "results": {"1": "ok"},
    "storage": {}},
   storage=st("a", H1), server={"POST /logout": [no_content()]}, offline_ms=[[0, 600000]])

sc("sign-out-global-network-error-keeps-session",
   "A global sign-out that fails on the network returns the retryable error and keeps the session so it can be retried.",
   [INIT, sign_out("global")],
   {"events": ["INITIAL_SESSION"], "requests": [LOGOUT_GLOBAL], "results": {"1": "err:retryable_fetch"},
    "never": ["SIGNED_OUT"], "storage": {KEY: "a"}},
   storage=st("a", H1), server={"POST /logout": [net()]})

sc("sign-out-global-503-keeps-session",
   "A global sign-out answered 503 returns a retryable error, is not retried and keeps the session.",
   [INIT, sign_out("global"), adv(5000)],
   {"events": ["INITIAL_SESSION"], "requests": [LOGOUT_GLOBAL], "results": {"1": "err:retryable_fetch"},
    "never": ["SIGNED_OUT"], "storage": {KEY: "a"}},
   storage=st("a", H1), server={"POST /logout": [E503, no_content()]})

sc("sign-out-global-session-not-found-removes",
   "A global sign-out answered session_not_found means the session is already gone: removed, SIGNED_OUT, ok.",
   [INIT, sign_out("global")],
   {"events": ["INITIAL_SESSION", "SIGNED_OUT"], "requests": [LOGOUT_GLOBAL], "results": {"1": "ok"},
    "storage": {}},
   storage=st("a", H1), server={"POST /logout": [SESSION_NOT_FOUND]})

sc("sign-out-global-bad-jwt-keeps-session",
   "A global sign-out answered 401 bad_jwt proves nothing was revoked: the error is returned and the session kept.",
   [INIT, sign_out("global")],
   {"events": ["INITIAL_SESSION"], "requests": [LOGOUT_GLOBAL], "results": {"1": "err:api:401:bad_jwt"},
    "never": ["SIGNED_OUT"], "storage": {KEY: "a"}},
   storage=st("a", H1),
   server={"POST /logout": [err(401, "bad_jwt", "invalid JWT: unable to parse or verify signature")]})

sc("sign-out-global-html-keeps-session",
   "A global sign-out answered by a proxy's HTML page returns a retryable error and keeps the session.",
   [INIT, sign_out("global")],
   {"events": ["INITIAL_SESSION"], "requests": [LOGOUT_GLOBAL], "results": {"1": "err:retryable_fetch"},
    "never": ["SIGNED_OUT"], "storage": {KEY: "a"}},
   storage=st("a", H1), server={"POST /logout": [raw(403, HTML_PAGE)]})

sc("sign-out-global-expired-refreshes-first",
   "A global sign-out with an expired access token refreshes first, then revokes with the new token and removes the session.",
   [INIT, sign_out("global")],
   {"requests": [REFRESH, LOGOUT_GLOBAL], "results": {"1": "ok"}, "last_event": "SIGNED_OUT",
    "storage": {}},
   storage=st("a", EXPIRED), server={"POST /token": [tok("b")], "POST /logout": [no_content()]})

sc("sign-out-others",
   "A sign-out of the other sessions posts scope=others and never changes the stored session.",
   [INIT, sign_out("others")],
   {"events": ["INITIAL_SESSION"], "requests": [LOGOUT_OTHERS], "results": {"1": "ok"},
    "never": ["SIGNED_OUT"], "storage": {KEY: "a"}},
   storage=st("a", H1), server={"POST /logout": [no_content()]})

sc("sign-out-others-fails-keeps-session",
   "A failed sign-out of the other sessions returns the error and never changes the stored session.",
   [INIT, sign_out("others")],
   {"events": ["INITIAL_SESSION"], "requests": [LOGOUT_OTHERS], "results": {"1": "err:retryable_fetch"},
    "never": ["SIGNED_OUT"], "storage": {KEY: "a"}},
   storage=st("a", H1), server={"POST /logout": [net()]})

sc("sign-out-no-session",
   "Signing out with no session succeeds, with no SIGNED_OUT.",
   [INIT, sign_out("local"), sign_out("global")],
   {"events": ["INITIAL_SESSION"], "results": {"1": "ok", "2": "ok"}, "never": ["SIGNED_OUT"], "storage": {}})

sc("sign-out-removes-verifier-and-user-keys",
   "A sign-out also removes the code-verifier and user keys.",
   [INIT, sign_out("local")],
   {"events": ["INITIAL_SESSION", "SIGNED_OUT"], "requests": [LOGOUT_LOCAL], "results": {"1": "ok"},
    "storage": {}},
   storage={KEY: stored("a", H1), VERIFIER_KEY: VERIFIER, USER_KEY: compact({"user": USER_OBJ})},
   server={"POST /logout": [no_content()]})

sc("sign-out-twice-one-signed-out",
   "Signing out twice emits SIGNED_OUT once and both calls succeed.",
   [INIT, sign_out("local"), sign_out("local")],
   {"events": ["INITIAL_SESSION", "SIGNED_OUT"], "requests": [LOGOUT_LOCAL], "results": {"1": "ok", "2": "ok"},
    "storage": {}},
   storage=st("a", H1), server={"POST /logout": [no_content(), no_content()]})

# ---------------------------------------------------------------- storage failures, restarts

sc("storage-write-fails-retried-on-next-input",
   "A failed write of a refreshed session keeps it in memory and is retried on the next input.",
   [INIT, sfail("write"), REFRESH_SESSION, GET_SESSION],
   {"events": ["INITIAL_SESSION", "TOKEN_REFRESHED"], "requests": [REFRESH],
    "results": {"2": "ok:b", "3": "ok:b"}, "storage": {KEY: "b"}},
   storage=st("a", H1), server={"POST /token": [tok("b"), tok("c")]})

sc("storage-write-fails-retried-after-1s",
   "A failed write of a refreshed session is retried by a timer after 1 s without any further input.",
   [INIT, sfail("write"), REFRESH_SESSION, adv(1500)],
   {"events": ["INITIAL_SESSION", "TOKEN_REFRESHED"], "requests": [REFRESH], "results": {"2": "ok:b"},
    "storage": {KEY: "b"}},
   storage=st("a", H1), server={"POST /token": [tok("b"), tok("c")]})

sc("storage-write-fails-on-sign-in",
   "A failed write of a new sign-in keeps the session in memory, announces it and writes it on the retry.",
   [INIT, sfail("write"), PW_SIGN_IN, adv(1500), GET_SESSION],
   {"events": ["INITIAL_SESSION", "SIGNED_IN"], "requests": [PASSWORD], "results": {"2": "ok:p", "4": "ok:p"},
    "storage": {KEY: "p"}},
   server={"POST /token": [tok("p")]})

sc("storage-remove-fails-still-signed-out",
   "A failed removal at sign-out still signs out (SIGNED_OUT, no session) and the removal is retried on the next input.",
   [INIT, sfail("remove"), sign_out("local"), GET_SESSION],
   {"events": ["INITIAL_SESSION", "SIGNED_OUT"], "requests": [LOGOUT_LOCAL],
    "results": {"2": "ok", "3": "ok:none"}, "storage": {}},
   storage=st("a", H1), server={"POST /logout": [no_content()]})

sc("restart-between-refresh-answer-and-write",
   "The app is killed after a refresh answer whose write failed: the next process starts from the old token, which the server still accepts once.",
   [INIT, sfail("write"), REFRESH_SESSION, RESTART, INIT, GET_SESSION, REFRESH_SESSION],
   {"events": ["INITIAL_SESSION", "TOKEN_REFRESHED", "INITIAL_SESSION", "TOKEN_REFRESHED"],
    "requests": [REFRESH, REFRESH], "results": {"2": "ok:b", "4": "ok", "5": "ok:a", "6": "ok:c"},
    "never": ["SIGNED_OUT"], "storage": {KEY: "c"}},
   storage=st("a", H1), server={"POST /token": [tok("b"), tok("c")]})

sc("restart-while-refresh-in-flight",
   "The app is killed while a refresh is in flight: its answer is lost, the next process finds the old session and refreshes it.",
   [INIT, GET_SESSION, RESTART, INIT, GET_SESSION, adv(2000)],
   {"events": ["INITIAL_SESSION", "INITIAL_SESSION", "TOKEN_REFRESHED"], "requests": [REFRESH, REFRESH],
    "results": {"3": "ok", "4": "ok:c"}, "never": ["SIGNED_OUT"], "storage": {KEY: "c"}},
   storage=st("a", EXPIRED), server={"POST /token": [tok("b", delay=1000), tok("c")]})

# ---------------------------------------------------------------- error codes, legacy bodies

sc("refresh-legacy-invalid-grant-signs-out",
   "A legacy 400 {\"error\":\"invalid_grant\"} to the refresh of an expired session is a session-dead signal: removed, SIGNED_OUT.",
   [INIT, GET_SESSION],
   {"events": ["INITIAL_SESSION", "SIGNED_OUT"], "requests": [REFRESH], "storage": {}},
   storage=st("a", EXPIRED),
   server={"POST /token": [err(400, None, None, api=False,
                               body={"error": "invalid_grant",
                                     "error_description": "Invalid Refresh Token: Refresh Token Not Found"})]})

sc("refresh-error-code-from-error-code-field",
   "Without an API-version header the code comes from error_code (code holds the status number): refresh_token_not_found signs out.",
   [INIT, GET_SESSION],
   {"events": ["INITIAL_SESSION", "SIGNED_OUT"], "requests": [REFRESH],
    "results": {"1": "err:api:400:refresh_token_not_found"}, "storage": {}},
   storage=st("a", EXPIRED),
   server={"POST /token": [err(400, None, None, api=False,
                               body={"code": 400, "error_code": "refresh_token_not_found",
                                     "msg": "Invalid Refresh Token: Refresh Token Not Found"})]})

sc("refresh-error-code-from-header",
   "Without an API-version header and without a code in the body, the x-sb-error-code header names the error: refresh_token_not_found signs out.",
   [INIT, GET_SESSION],
   {"events": ["INITIAL_SESSION", "SIGNED_OUT"], "requests": [REFRESH],
    "results": {"1": "err:api:400:refresh_token_not_found"}, "storage": {}},
   storage=st("a", EXPIRED),
   server={"POST /token": [err(400, None, None, api=False, headers={"x-sb-error-code": "refresh_token_not_found"},
                               body={"msg": "Invalid Refresh Token: Refresh Token Not Found"})]})

# ---------------------------------------------------------------- clock skew

sc("clock-skew-server-ahead-refreshes-earlier",
   "A server 10 min ahead of the device makes the next refresh come 10 min earlier by the device clock.",
   [INIT, REFRESH_SESSION, adv(3520000), GET_SESSION],
   {"events": ["INITIAL_SESSION", "TOKEN_REFRESHED", "TOKEN_REFRESHED"], "requests": [REFRESH, REFRESH],
    "results": {"1": "ok:b", "3": "ok:c"}, "storage": {KEY: "c"}},
   storage=st("a", H1), server={"POST /token": [tok("b", issued=600), tok("c", issued=4120)]})

sc("clock-skew-server-behind-no-early-refresh",
   "A server 10 min behind the device does not make a token look expired early: at its device-clock expiry it still has 10 min left.",
   [INIT, PW_SIGN_IN, adv(3000000), GET_SESSION],
   {"events": ["INITIAL_SESSION", "SIGNED_IN"], "requests": [PASSWORD], "results": {"1": "ok:p", "3": "ok:p"},
    "storage": {KEY: "p"}},
   server={"POST /token": [tok("p", issued=-600), tok("q", issued=2400)]})


# ---------------------------------------------------------------- where auth-js and we agree
#
# The scenarios below check the auth-js behaviours the policy keeps (tests/authjs/compare.mjs replays
# them through auth-js too, and they must come out the same). Most start from a password sign-in
# rather than a stored session: auth-js announces a recovered session with an extra SIGNED_IN and
# refreshes a due one while computing INITIAL_SESSION, two start-up differences that would hide
# everything after them.

SIGNED_IN_P = PW_SIGN_IN              # step 1 of these scenarios: session p, valid for 3600 s
SIGN_IN_AGAIN = PW_SIGN_IN            # a later sign-in: the next session in the /token queue
P_DUE_MS = 3540000                    # 60 s before p expires: due, not expired
P_EXPIRED_MS = 3700000                # 100 s after p expired


def signed_in(*answers):
    """The /token queue: p for the sign-in, then `answers` (refreshes, later sign-ins)."""
    return [tok("p")] + list(answers)


# recovery

sc("init-due-refresh-rejected-kept-while-valid",
   "A due session whose start-up refresh is rejected is kept while its access token is valid, and the cooldown answers later checks without a request.",
   [INIT, GET_SESSION, adv(30000), GET_SESSION, STOP_AUTO],
   {"events": ["INITIAL_SESSION"], "requests": [REFRESH], "results": {"0": "ok", "1": "ok:a", "3": "ok:a"},
    "initial_session": "a", "never": ["SIGNED_OUT", "SIGNED_IN"], "storage": {KEY: "a"}},
   storage=st("a", DUE), server={"POST /token": [RT_NOT_FOUND, tok("z")]}, options=AUTO)

sc("init-expired-refresh-already-used-signs-out",
   "An expired stored session whose refresh token was already used, with nothing newer stored, is removed at start with auto refresh on.",
   [INIT, GET_SESSION, STOP_AUTO],
   {"events": ["SIGNED_OUT", "INITIAL_SESSION"], "requests": [REFRESH], "results": {"0": "ok", "1": "ok:none"},
    "initial_session": "none", "storage": {}},
   storage=st("a", EXPIRED), server={"POST /token": [RT_ALREADY_USED]}, options=AUTO)

# margins

sc("margin-signed-in-boundary",
   "After a sign-in, get_session 90 s before expiry returns the session without a request, and 89 s before expiry refreshes it.",
   [INIT, SIGNED_IN_P, adv(3510000), GET_SESSION, adv(1000), GET_SESSION],
   {"events": ["INITIAL_SESSION", "SIGNED_IN", "TOKEN_REFRESHED"], "requests": [PASSWORD, REFRESH],
    "results": {"1": "ok:p", "3": "ok:p", "5": "ok:q"}, "storage": {KEY: "q"}},
   server={"POST /token": signed_in(tok("q", issued=3511))})

sc("margin-signed-in-get-user-due-refreshes-first",
   "get_user on a signed-in session inside the margin refreshes first and asks /user with the new token.",
   [INIT, SIGNED_IN_P, adv(P_DUE_MS), GET_USER],
   {"events": ["INITIAL_SESSION", "SIGNED_IN", "TOKEN_REFRESHED"], "requests": [PASSWORD, REFRESH, USER],
    "results": {"3": "ok"}, "storage": {KEY: "q"}},
   server={"POST /token": signed_in(tok("q", issued=3540)), "GET /user": [user_ok()]})

sc("margin-signed-in-expired-refresh-ok",
   "get_session on an expired signed-in session refreshes it and returns the new one.",
   [INIT, SIGNED_IN_P, adv(P_EXPIRED_MS), GET_SESSION],
   {"events": ["INITIAL_SESSION", "SIGNED_IN", "TOKEN_REFRESHED"], "requests": [PASSWORD, REFRESH],
    "results": {"3": "ok:q"}, "never": ["SIGNED_OUT"], "storage": {KEY: "q"}},
   server={"POST /token": signed_in(tok("q", issued=3700))})

sc("margin-auto-refresh-signed-in",
   "With auto refresh on, a signed-in session is not refreshed 200 s before expiry and has been refreshed once by 70 s before it.",
   [INIT, SIGNED_IN_P, adv(3400000), GET_SESSION, adv(130000), GET_SESSION, STOP_AUTO],
   {"events": ["INITIAL_SESSION", "SIGNED_IN", "TOKEN_REFRESHED"], "requests": [PASSWORD, REFRESH],
    "results": {"3": "ok:p", "5": "ok:q"}, "storage": {KEY: "q"}},
   server={"POST /token": signed_in(tok("q", issued=3510))}, options=AUTO)

sc("auto-refresh-signed-in-stopped-no-refresh",
   "With auto refresh stopped after a sign-in, nothing is sent past expiry and the session is not signed out.",
   [INIT, SIGNED_IN_P, STOP_AUTO, adv(P_EXPIRED_MS)],
   {"events": ["INITIAL_SESSION", "SIGNED_IN"], "requests": [PASSWORD], "never": ["SIGNED_OUT"],
    "storage": {KEY: "p"}},
   server={"POST /token": signed_in(tok("q", issued=3500))}, options=AUTO)

sc("auto-refresh-rearms-after-new-sign-in",
   "With auto refresh on, a second sign-in re-arms the refresh for the new session: nothing is sent when the first would have been due, one refresh before the new one expires.",
   [INIT, SIGNED_IN_P, adv(1000000), SIGN_IN_AGAIN, adv(3000000), GET_SESSION, adv(560000), GET_SESSION, STOP_AUTO],
   {"events": ["INITIAL_SESSION", "SIGNED_IN", "SIGNED_IN", "TOKEN_REFRESHED"],
    "requests": [PASSWORD, PASSWORD, REFRESH], "results": {"5": "ok:r", "7": "ok:q"}, "storage": {KEY: "q"}},
   server={"POST /token": signed_in(tok("r", issued=1000), tok("q", issued=4510))}, options=AUTO)

sc("auto-refresh-signed-out-no-refresh",
   "With auto refresh on, nothing is refreshed after a local sign-out, even past the old session's expiry.",
   [INIT, SIGNED_IN_P, sign_out("local"), adv(P_EXPIRED_MS), STOP_AUTO],
   {"events": ["INITIAL_SESSION", "SIGNED_IN", "SIGNED_OUT"], "requests": [PASSWORD, LOGOUT_LOCAL],
    "results": {"2": "ok"}, "storage": {}},
   server={"POST /token": signed_in(tok("q", issued=3500)), "POST /logout": [no_content()]}, options=AUTO)

# refresh retry and cooldown

sc("retry-signed-in-503-then-ok",
   "A refresh answered 503 twice is retried at 200 and 600 ms and the third attempt's session is returned.",
   [INIT, SIGNED_IN_P, adv(P_EXPIRED_MS), GET_SESSION, adv(1000)],
   {"events": ["INITIAL_SESSION", "SIGNED_IN", "TOKEN_REFRESHED"], "requests": [PASSWORD] + [REFRESH] * 3,
    "results": {"3": "ok:q"}, "never": ["SIGNED_OUT"], "storage": {KEY: "q"}},
   server={"POST /token": signed_in(E503, E503, tok("q", issued=3700))})

sc("retry-signed-in-5xx-and-network-then-ok",
   "500, 502, 504 and a transport failure are all transient: retried on the back-off schedule until the refresh succeeds.",
   [INIT, SIGNED_IN_P, adv(P_EXPIRED_MS), GET_SESSION, adv(7000)],
   {"events": ["INITIAL_SESSION", "SIGNED_IN", "TOKEN_REFRESHED"], "requests": [PASSWORD] + [REFRESH] * 5,
    "results": {"3": "ok:q"}, "never": ["SIGNED_OUT"], "storage": {KEY: "q"}},
   server={"POST /token": signed_in(err(500, "unexpected_failure", "Internal Server Error"),
                                    raw(502, "<html><body><h1>502 Bad Gateway</h1></body></html>"),
                                    err(504, "unexpected_failure", "Gateway Timeout"), net(),
                                    tok("q", issued=3703))})

sc("retry-signed-in-schedule-first-attempts",
   "Transport failures on the refresh of an expired signed-in session are retried at 200 and 600 ms: three attempts within 1399 ms.",
   [INIT, SIGNED_IN_P, adv(P_EXPIRED_MS), GET_SESSION, adv(1399)],
   {"events": ["INITIAL_SESSION", "SIGNED_IN"], "requests": [PASSWORD] + [REFRESH] * 3,
    "never": ["SIGNED_OUT"], "storage": {KEY: "p"}},
   server={"POST /token": signed_in(*([net()] * 8))})

sc("retry-signed-in-burst-joined-late",
   "A burst makes eight attempts and no ninth, and a get_session arriving just before the last attempt joins it and shares its retryable error.",
   [INIT, SIGNED_IN_P, adv(P_EXPIRED_MS), GET_SESSION, adv(25399), GET_SESSION, adv(20000)],
   {"events": ["INITIAL_SESSION", "SIGNED_IN"], "requests": [PASSWORD] + [REFRESH] * 8,
    "results": {"3": "err:retryable_fetch", "5": "err:retryable_fetch"}, "never": ["SIGNED_OUT"],
    "storage": {KEY: "p"}},
   server={"POST /token": signed_in(*([net()] * 9))})

sc("retry-signed-in-burst-then-cooldown",
   "An expired session whose refresh fails 8 times gets a retryable error, the 60 s cooldown answers from cache, and the first call after it refreshes.",
   [INIT, SIGNED_IN_P, adv(P_EXPIRED_MS), GET_SESSION, adv(30000), GET_SESSION, adv(30000), GET_SESSION,
    adv(30000), GET_SESSION],
   {"events": ["INITIAL_SESSION", "SIGNED_IN", "TOKEN_REFRESHED"], "requests": [PASSWORD] + [REFRESH] * 9,
    "results": {"3": "err:retryable_fetch", "5": "err:retryable_fetch", "7": "err:retryable_fetch",
                "9": "ok:q"},
    "never": ["SIGNED_OUT"], "storage": {KEY: "q"}},
   server={"POST /token": signed_in(*([E503] * 8), tok("q", issued=3790))})

sc("retry-signed-in-network-burst-keeps-session",
   "Eight transport failures on the refresh of an expired session keep it stored and give a retryable error, never a sign-out.",
   [INIT, SIGNED_IN_P, adv(P_EXPIRED_MS), GET_SESSION, adv(30000)],
   {"events": ["INITIAL_SESSION", "SIGNED_IN"], "requests": [PASSWORD] + [REFRESH] * 8,
    "results": {"3": "err:retryable_fetch"}, "never": ["SIGNED_OUT"], "storage": {KEY: "p"}},
   server={"POST /token": signed_in(*([net()] * 8))})

sc("retry-signed-in-due-transient-returns-session",
   "A due but valid session whose refresh burst fails is still returned by get_session, and during the cooldown without a request.",
   [INIT, SIGNED_IN_P, adv(P_DUE_MS), GET_SESSION, adv(26000), GET_SESSION],
   {"events": ["INITIAL_SESSION", "SIGNED_IN"], "requests": [PASSWORD] + [REFRESH] * 8,
    "results": {"3": "ok:p", "5": "ok:p"}, "never": ["SIGNED_OUT"], "storage": {KEY: "p"}},
   server={"POST /token": signed_in(*([E503] * 8))})

sc("auto-refresh-signed-in-503-burst-then-new-burst",
   "With auto refresh on, a burst of 503s before expiry is followed by a cooldown and then a new burst that succeeds, never a sign-out.",
   [INIT, SIGNED_IN_P, adv(P_EXPIRED_MS), STOP_AUTO],
   {"events": ["INITIAL_SESSION", "SIGNED_IN", "TOKEN_REFRESHED"], "requests": [PASSWORD] + [REFRESH] * 9,
    "never": ["SIGNED_OUT"], "storage": {KEY: "q"}},
   server={"POST /token": signed_in(*([E503] * 8), tok("q", issued=3596))}, options=AUTO)

sc("retry-signed-in-refresh-session-transient-keeps-session",
   "refresh_session whose burst fails with 503 returns a retryable error and keeps the valid session.",
   [INIT, SIGNED_IN_P, REFRESH_SESSION, adv(30000), GET_SESSION],
   {"events": ["INITIAL_SESSION", "SIGNED_IN"], "requests": [PASSWORD] + [REFRESH] * 8,
    "results": {"2": "err:retryable_fetch", "4": "ok:p"}, "never": ["SIGNED_OUT"], "storage": {KEY: "p"}},
   server={"POST /token": signed_in(*([E503] * 8))})

sc("retry-signed-in-get-user-expired-transient",
   "get_user on an expired session whose refresh fails transiently returns a retryable error, keeps the session and never asks /user.",
   [INIT, SIGNED_IN_P, adv(P_EXPIRED_MS), GET_USER, adv(30000)],
   {"events": ["INITIAL_SESSION", "SIGNED_IN"], "requests": [PASSWORD] + [REFRESH] * 8,
    "results": {"3": "err:retryable_fetch"}, "never": ["SIGNED_OUT"], "storage": {KEY: "p"}},
   server={"POST /token": signed_in(*([net()] * 8)), "GET /user": [user_ok()]})

# proactive preserve

sc("proactive-signed-in-rejected-kept-while-valid",
   "A refresh rejected while the access token is still valid keeps the session, and the next get_session sends no second request.",
   [INIT, SIGNED_IN_P, adv(P_DUE_MS), GET_SESSION, adv(10000), GET_SESSION],
   {"events": ["INITIAL_SESSION", "SIGNED_IN"], "requests": [PASSWORD, REFRESH],
    "results": {"3": "ok:p", "5": "ok:p"}, "never": ["SIGNED_OUT", "TOKEN_REFRESHED"], "storage": {KEY: "p"}},
   server={"POST /token": signed_in(RT_NOT_FOUND, tok("z"))})

sc("proactive-signed-in-rejected-then-new-sign-in",
   "After a proactive refresh of p is rejected, a new sign-in's session outlives p's expiry and is refreshed normally when due.",
   [INIT, SIGNED_IN_P, adv(P_DUE_MS), GET_SESSION, SIGN_IN_AGAIN, adv(120000), GET_SESSION, adv(3450000),
    GET_SESSION],
   {"events": ["INITIAL_SESSION", "SIGNED_IN", "SIGNED_IN", "TOKEN_REFRESHED"],
    "requests": [PASSWORD, REFRESH, PASSWORD, REFRESH], "results": {"3": "ok:p", "4": "ok:r", "6": "ok:r", "8": "ok:q"},
    "never": ["SIGNED_OUT"], "storage": {KEY: "q"}},
   server={"POST /token": signed_in(RT_NOT_FOUND, tok("r", issued=3540), tok("q", issued=7110))})

sc("proactive-signed-in-refresh-session-rejected",
   "refresh_session rejected while the access token is valid returns the api error and keeps the session.",
   [INIT, SIGNED_IN_P, REFRESH_SESSION, GET_SESSION],
   {"events": ["INITIAL_SESSION", "SIGNED_IN"], "requests": [PASSWORD, REFRESH],
    "results": {"2": "err:api:400:refresh_token_not_found", "3": "ok:p"}, "never": ["SIGNED_OUT"],
    "storage": {KEY: "p"}},
   server={"POST /token": signed_in(RT_NOT_FOUND)})

sc("proactive-signed-in-user-banned-kept-while-valid",
   "A proactive refresh answered user_banned keeps the still-valid session and get_user still reaches /user with it.",
   [INIT, SIGNED_IN_P, adv(P_DUE_MS), GET_SESSION, GET_USER],
   {"events": ["INITIAL_SESSION", "SIGNED_IN"], "requests": [PASSWORD, REFRESH, USER],
    "results": {"3": "ok:p", "4": "ok"}, "never": ["SIGNED_OUT"], "storage": {KEY: "p"}},
   server={"POST /token": signed_in(err(400, "user_banned", "User is banned")), "GET /user": [user_ok()]})

# refresh rejected at expiry

sc("refresh-signed-in-expired-rejected-signs-out",
   "An expired signed-in session whose refresh token is not found is removed: SIGNED_OUT and the api error.",
   [INIT, SIGNED_IN_P, adv(P_EXPIRED_MS), GET_SESSION, GET_SESSION],
   {"events": ["INITIAL_SESSION", "SIGNED_IN", "SIGNED_OUT"], "requests": [PASSWORD, REFRESH],
    "results": {"3": "err:api:400:refresh_token_not_found", "4": "ok:none"}, "storage": {}},
   server={"POST /token": signed_in(RT_NOT_FOUND)})

sc("refresh-signed-in-expired-already-used-signs-out",
   "refresh_token_already_used for an expired signed-in session, with nothing newer stored, removes it.",
   [INIT, SIGNED_IN_P, adv(P_EXPIRED_MS), GET_SESSION],
   {"events": ["INITIAL_SESSION", "SIGNED_IN", "SIGNED_OUT"], "requests": [PASSWORD, REFRESH],
    "results": {"3": "err:api:400:refresh_token_already_used"}, "storage": {}},
   server={"POST /token": signed_in(RT_ALREADY_USED)})

sc("refresh-signed-in-expired-session-expired-signs-out",
   "An expired signed-in session whose refresh answers session_expired is removed: SIGNED_OUT and the api error.",
   [INIT, SIGNED_IN_P, adv(P_EXPIRED_MS), GET_SESSION],
   {"events": ["INITIAL_SESSION", "SIGNED_IN", "SIGNED_OUT"], "requests": [PASSWORD, REFRESH],
    "results": {"3": "err:api:400:session_expired"}, "storage": {}},
   server={"POST /token": signed_in(err(400, "session_expired", "Session has expired"))})

sc("refresh-signed-in-refresh-session-user-banned",
   "refresh_session on an expired session of a banned user removes it: SIGNED_OUT and the api error.",
   [INIT, SIGNED_IN_P, adv(P_EXPIRED_MS), REFRESH_SESSION],
   {"events": ["INITIAL_SESSION", "SIGNED_IN", "SIGNED_OUT"], "requests": [PASSWORD, REFRESH],
    "results": {"3": "err:api:400:user_banned"}, "storage": {}},
   server={"POST /token": signed_in(err(400, "user_banned", "User is banned"))})

sc("refresh-signed-in-get-user-expired-rejected",
   "get_user on an expired session whose refresh is rejected removes it, returns the refresh's api error and never asks /user.",
   [INIT, SIGNED_IN_P, adv(P_EXPIRED_MS), GET_USER],
   {"events": ["INITIAL_SESSION", "SIGNED_IN", "SIGNED_OUT"], "requests": [PASSWORD, REFRESH],
    "results": {"3": "err:api:400:refresh_token_not_found"}, "storage": {}},
   server={"POST /token": signed_in(RT_NOT_FOUND), "GET /user": [user_ok()]})

# single flight

sc("single-flight-signed-in-concurrent-get-session",
   "Three get_session calls on an expired signed-in session during one slow refresh share a single request.",
   [INIT, SIGNED_IN_P, adv(P_EXPIRED_MS), GET_SESSION, GET_SESSION, GET_SESSION, adv(1000)],
   {"events": ["INITIAL_SESSION", "SIGNED_IN", "TOKEN_REFRESHED"], "requests": [PASSWORD, REFRESH],
    "results": {"3": "ok:q", "4": "ok:q", "5": "ok:q"}, "storage": {KEY: "q"}},
   server={"POST /token": signed_in(tok("q", issued=3700, delay=500), tok("r", issued=3700))})

sc("single-flight-signed-in-get-session-and-get-user",
   "get_session and get_user arriving during one slow refresh share it, and get_user then asks /user once with the new token.",
   [INIT, SIGNED_IN_P, adv(P_EXPIRED_MS), GET_SESSION, GET_USER, adv(1000)],
   {"events": ["INITIAL_SESSION", "SIGNED_IN", "TOKEN_REFRESHED"], "requests": [PASSWORD, REFRESH, USER],
    "results": {"3": "ok:q", "4": "ok"}, "storage": {KEY: "q"}},
   server={"POST /token": signed_in(tok("q", issued=3700, delay=500), tok("r", issued=3700)),
           "GET /user": [user_ok()]})

sc("single-flight-signed-in-two-refresh-session",
   "Two refresh_session calls on a valid session during one slow refresh share a single request and rotate once.",
   [INIT, SIGNED_IN_P, REFRESH_SESSION, REFRESH_SESSION, adv(1000)],
   {"events": ["INITIAL_SESSION", "SIGNED_IN", "TOKEN_REFRESHED"], "requests": [PASSWORD, REFRESH],
    "results": {"2": "ok:q", "3": "ok:q"}, "storage": {KEY: "q"}},
   server={"POST /token": signed_in(tok("q", delay=500), tok("r"))})

sc("single-flight-signed-in-get-user-during-refresh-session",
   "get_user on a valid session while refresh_session is in flight is answered, and the refresh rotates once.",
   [INIT, SIGNED_IN_P, REFRESH_SESSION, GET_USER, adv(1000)],
   {"events": ["INITIAL_SESSION", "SIGNED_IN", "TOKEN_REFRESHED"], "requests": [PASSWORD, REFRESH, USER],
    "results": {"2": "ok:q", "3": "ok"}, "storage": {KEY: "q"}},
   server={"POST /token": signed_in(tok("q", delay=500), tok("r")), "GET /user": [user_ok()]})

sc("single-flight-signed-in-failure-shared",
   "Callers sharing one refresh that is rejected at expiry all get its api error, with one request and one SIGNED_OUT.",
   [INIT, SIGNED_IN_P, adv(P_EXPIRED_MS), GET_SESSION, GET_SESSION, adv(1000)],
   {"events": ["INITIAL_SESSION", "SIGNED_IN", "SIGNED_OUT"], "requests": [PASSWORD, REFRESH],
    "results": {"3": "err:api:400:refresh_token_not_found", "4": "err:api:400:refresh_token_not_found"},
    "storage": {}},
   server={"POST /token": signed_in(dict(RT_NOT_FOUND, delay_ms=500))})

# commit guard

sc("commit-guard-signed-in-sign-in-during-refresh",
   "A new sign-in while the refresh of the old session is in flight wins: the late answer is discarded and get_session answers the new session.",
   [INIT, SIGNED_IN_P, adv(P_EXPIRED_MS), GET_SESSION, SIGN_IN_AGAIN, adv(2000)],
   {"events": ["INITIAL_SESSION", "SIGNED_IN", "SIGNED_IN"], "requests": [PASSWORD, REFRESH, PASSWORD],
    "results": {"3": "ok:r", "4": "ok:r"}, "never": ["TOKEN_REFRESHED"], "storage": {KEY: "r"}},
   server={"POST /token": signed_in(tok("q", issued=3700, delay=1000), tok("r", issued=3700))})

sc("commit-guard-signed-in-refresh-session-discarded",
   "refresh_session whose slow answer arrives after a new sign-in replaced the session fails with refresh_discarded and writes nothing.",
   [INIT, SIGNED_IN_P, REFRESH_SESSION, SIGN_IN_AGAIN, adv(2000)],
   {"events": ["INITIAL_SESSION", "SIGNED_IN", "SIGNED_IN"], "requests": [PASSWORD, REFRESH, PASSWORD],
    "results": {"2": "err:refresh_discarded", "3": "ok:r"}, "never": ["TOKEN_REFRESHED"],
    "storage": {KEY: "r"}},
   server={"POST /token": signed_in(tok("q", delay=1000), tok("r"))})

sc("commit-guard-signed-in-local-sign-out-during-refresh",
   "A local sign-out while refresh_session is in flight wins: the late answer is discarded and never brings the session back.",
   [INIT, SIGNED_IN_P, REFRESH_SESSION, sign_out("local"), adv(2000), GET_SESSION],
   {"events": ["INITIAL_SESSION", "SIGNED_IN", "SIGNED_OUT"], "requests": [PASSWORD, REFRESH, LOGOUT_LOCAL],
    "results": {"2": "err:refresh_discarded", "3": "ok", "5": "ok:none"}, "never": ["TOKEN_REFRESHED"],
    "storage": {}},
   server={"POST /token": signed_in(tok("q", delay=1000)), "POST /logout": [no_content()]})

sc("commit-guard-signed-in-global-sign-out-during-refresh",
   "A global sign-out while refresh_session is in flight revokes and removes the session, and the late answer is discarded.",
   [INIT, SIGNED_IN_P, REFRESH_SESSION, sign_out("global"), adv(2000), GET_SESSION],
   {"events": ["INITIAL_SESSION", "SIGNED_IN", "SIGNED_OUT"], "requests": [PASSWORD, REFRESH, LOGOUT_GLOBAL],
    "results": {"2": "err:refresh_discarded", "3": "ok", "5": "ok:none"}, "never": ["TOKEN_REFRESHED"],
    "storage": {}},
   server={"POST /token": signed_in(tok("q", delay=1000)), "POST /logout": [no_content()]})

# set_session

sc("set-session-user-503-no-session",
   "A 503 from /user during set_session fails the call with a retryable error and stores nothing.",
   [INIT, set_session("s", H1)],
   {"events": ["INITIAL_SESSION"], "requests": [USER], "results": {"1": "err:retryable_fetch"},
    "never": ["SIGNED_IN", "SIGNED_OUT"], "storage": {}},
   server={"GET /user": [E503]})

sc("set-session-user-rejected-no-session",
   "set_session whose token /user rejects with an api error fails the call and stores nothing.",
   [INIT, set_session("s", H1)],
   {"events": ["INITIAL_SESSION"], "requests": [USER], "results": {"1": "err:api:401:no_authorization"},
    "never": ["SIGNED_IN", "SIGNED_OUT"], "storage": {}},
   server={"GET /user": [err(401, "no_authorization", "This endpoint requires a Bearer token")]})

sc("set-session-invalid-jwt-no-session",
   "set_session with an access token that is not a JWT fails with invalid_input and sends nothing.",
   [INIT, call("set_session", access_token="not-a-jwt", refresh_token="rt-s")],
   {"events": ["INITIAL_SESSION"], "requests": [], "results": {"1": "err:invalid_input"}, "storage": {}},
   server={"GET /user": [user_ok()], "POST /token": [tok("u")]})

sc("set-session-then-get-user-and-get-session",
   "A session set with set_session is used by get_user and returned by get_session.",
   [INIT, set_session("s", H1), GET_USER, GET_SESSION],
   {"events": ["INITIAL_SESSION", "SIGNED_IN"], "requests": [USER, USER],
    "results": {"1": "ok:s", "2": "ok", "3": "ok:s"}, "storage": {KEY: "s"}},
   server={"GET /user": [user_ok(), user_ok()]})

sc("set-session-signed-in-replaces",
   "set_session with a valid token over a signed-in session replaces it with SIGNED_IN.",
   [INIT, SIGNED_IN_P, set_session("s", H1), GET_SESSION],
   {"events": ["INITIAL_SESSION", "SIGNED_IN", "SIGNED_IN"], "requests": [PASSWORD, USER],
    "results": {"2": "ok:s", "3": "ok:s"}, "never": ["SIGNED_OUT"], "storage": {KEY: "s"}},
   server={"POST /token": signed_in(), "GET /user": [user_ok()]})

sc("set-session-expired-refresh-rejected-keeps-expired-stored",
   "A rejected refresh of the tokens given to set_session fails the call and never touches the stored session, even an expired one.",
   [INIT, SIGNED_IN_P, adv(P_EXPIRED_MS), set_session("t", EXPIRED)],
   {"events": ["INITIAL_SESSION", "SIGNED_IN"], "requests": [PASSWORD, REFRESH],
    "results": {"3": "err:api:400:refresh_token_not_found"}, "never": ["SIGNED_OUT"], "storage": {KEY: "p"}},
   server={"POST /token": signed_in(RT_NOT_FOUND)})

sc("set-session-expired-refresh-rejected-no-session",
   "A rejected refresh of the tokens given to set_session with nothing stored fails the call with no event.",
   [INIT, set_session("t", EXPIRED)],
   {"events": ["INITIAL_SESSION"], "requests": [REFRESH], "results": {"1": "err:api:400:refresh_token_not_found"},
    "never": ["SIGNED_OUT", "SIGNED_IN"], "storage": {}},
   server={"POST /token": [RT_NOT_FOUND]})

sc("set-session-user-session-not-found-keeps-stored",
   "set_session whose token /user answers session_not_found fails the call and leaves the signed-in session alone.",
   [INIT, SIGNED_IN_P, set_session("s", H1), GET_SESSION],
   {"events": ["INITIAL_SESSION", "SIGNED_IN"], "requests": [PASSWORD, USER],
    "results": {"2": "err:session_missing", "3": "ok:p"}, "never": ["SIGNED_OUT"], "storage": {KEY: "p"}},
   server={"POST /token": signed_in(), "GET /user": [SESSION_NOT_FOUND]})

# sign-out scopes

sc("sign-out-signed-in-global",
   "A global sign-out of a signed-in session revokes it with scope=global, removes it and emits SIGNED_OUT.",
   [INIT, SIGNED_IN_P, sign_out("global"), GET_SESSION],
   {"events": ["INITIAL_SESSION", "SIGNED_IN", "SIGNED_OUT"], "requests": [PASSWORD, LOGOUT_GLOBAL],
    "results": {"2": "ok", "3": "ok:none"}, "storage": {}},
   server={"POST /token": signed_in(), "POST /logout": [no_content()]})

sc("sign-out-signed-in-local",
   "A local sign-out of a signed-in session removes it, emits SIGNED_OUT and tells the server with scope=local.",
   [INIT, SIGNED_IN_P, sign_out("local"), GET_SESSION],
   {"events": ["INITIAL_SESSION", "SIGNED_IN", "SIGNED_OUT"], "requests": [PASSWORD, LOGOUT_LOCAL],
    "results": {"2": "ok", "3": "ok:none"}, "storage": {}},
   server={"POST /token": signed_in(), "POST /logout": [no_content()]})

sc("sign-out-signed-in-others",
   "A sign-out of the other sessions posts scope=others and keeps the signed-in session.",
   [INIT, SIGNED_IN_P, sign_out("others"), GET_SESSION],
   {"events": ["INITIAL_SESSION", "SIGNED_IN"], "requests": [PASSWORD, LOGOUT_OTHERS],
    "results": {"2": "ok", "3": "ok:p"}, "never": ["SIGNED_OUT"], "storage": {KEY: "p"}},
   server={"POST /token": signed_in(), "POST /logout": [no_content()]})

sc("sign-out-signed-in-others-fails-keeps-session",
   "A sign-out of the other sessions that fails on the network returns the retryable error and keeps the session.",
   [INIT, SIGNED_IN_P, sign_out("others")],
   {"events": ["INITIAL_SESSION", "SIGNED_IN"], "requests": [PASSWORD, LOGOUT_OTHERS],
    "results": {"2": "err:retryable_fetch"}, "never": ["SIGNED_OUT"], "storage": {KEY: "p"}},
   server={"POST /token": signed_in(), "POST /logout": [net()]})

sc("sign-out-signed-in-global-503-keeps-session",
   "A global sign-out answered 503 returns a retryable error and keeps the session so it can be retried.",
   [INIT, SIGNED_IN_P, sign_out("global"), GET_SESSION],
   {"events": ["INITIAL_SESSION", "SIGNED_IN"], "requests": [PASSWORD, LOGOUT_GLOBAL],
    "results": {"2": "err:retryable_fetch", "3": "ok:p"}, "never": ["SIGNED_OUT"], "storage": {KEY: "p"}},
   server={"POST /token": signed_in(), "POST /logout": [E503]})

sc("sign-out-signed-in-global-session-not-found-removes",
   "A global sign-out answered session_not_found means the session is already gone: removed, SIGNED_OUT, ok.",
   [INIT, SIGNED_IN_P, sign_out("global")],
   {"events": ["INITIAL_SESSION", "SIGNED_IN", "SIGNED_OUT"], "requests": [PASSWORD, LOGOUT_GLOBAL],
    "results": {"2": "ok"}, "storage": {}},
   server={"POST /token": signed_in(), "POST /logout": [SESSION_NOT_FOUND]})

sc("sign-out-signed-in-global-user-not-found-removes",
   "A global sign-out answered user_not_found means the session is already gone: removed, SIGNED_OUT, ok.",
   [INIT, SIGNED_IN_P, sign_out("global")],
   {"events": ["INITIAL_SESSION", "SIGNED_IN", "SIGNED_OUT"], "requests": [PASSWORD, LOGOUT_GLOBAL],
    "results": {"2": "ok"}, "storage": {}},
   server={"POST /token": signed_in(),
           "POST /logout": [err(403, "user_not_found", "User from sub claim in JWT does not exist")]})

sc("sign-out-signed-in-global-expired-refreshes-first",
   "A global sign-out of an expired signed-in session refreshes first, then revokes with the new token.",
   [INIT, SIGNED_IN_P, adv(P_EXPIRED_MS), sign_out("global")],
   {"events": ["INITIAL_SESSION", "SIGNED_IN", "TOKEN_REFRESHED", "SIGNED_OUT"],
    "requests": [PASSWORD, REFRESH, LOGOUT_GLOBAL], "results": {"3": "ok"}, "storage": {}},
   server={"POST /token": signed_in(tok("q", issued=3700)), "POST /logout": [no_content()]})

sc("sign-out-signed-in-global-expired-refresh-transient-keeps-session",
   "A global sign-out of an expired session whose refresh fails transiently returns the retryable error and keeps the session.",
   [INIT, SIGNED_IN_P, adv(P_EXPIRED_MS), sign_out("global"), adv(30000)],
   {"events": ["INITIAL_SESSION", "SIGNED_IN"], "requests": [PASSWORD] + [REFRESH] * 8,
    "results": {"3": "err:retryable_fetch"}, "never": ["SIGNED_OUT"], "storage": {KEY: "p"}},
   server={"POST /token": signed_in(*([E503] * 8)), "POST /logout": [no_content()]})

sc("sign-out-signed-in-removes-verifier-and-user-keys",
   "A global sign-out also removes the code-verifier and user keys.",
   [INIT, SIGNED_IN_P, sign_out("global")],
   {"events": ["INITIAL_SESSION", "SIGNED_IN", "SIGNED_OUT"], "requests": [PASSWORD, LOGOUT_GLOBAL],
    "results": {"2": "ok"}, "storage": {}},
   storage={VERIFIER_KEY: VERIFIER, USER_KEY: compact({"user": USER_OBJ})},
   server={"POST /token": signed_in(), "POST /logout": [no_content()]})

# PKCE exchange

sc("exchange-code-missing-verifier",
   "A PKCE code exchange with no stored verifier fails with invalid_input and sends nothing.",
   [INIT, call("exchange_code", auth_code="auth-code-123")],
   {"events": ["INITIAL_SESSION"], "requests": [], "results": {"1": "err:invalid_input"},
    "never": ["SIGNED_IN"], "storage": {}},
   server={"POST /token": [tok("x")]})

sc("exchange-code-network-error",
   "A PKCE code exchange that fails on the network returns a retryable error at once and stores no session.",
   [INIT, call("exchange_code", auth_code="auth-code-123"), adv(5000)],
   {"events": ["INITIAL_SESSION"], "requests": [PKCE], "results": {"1": "err:retryable_fetch"},
    "never": ["SIGNED_IN"], "storage": {}},
   storage={VERIFIER_KEY: VERIFIER}, server={"POST /token": [net(), tok("x")]})

sc("exchange-code-replaces-signed-in-session",
   "A PKCE code exchange over a signed-in session stores the new session with SIGNED_IN.",
   [INIT, SIGNED_IN_P, call("exchange_code", auth_code="auth-code-123"), GET_SESSION],
   {"events": ["INITIAL_SESSION", "SIGNED_IN", "SIGNED_IN"], "requests": [PASSWORD, PKCE],
    "results": {"2": "ok:x", "3": "ok:x"}, "never": ["SIGNED_OUT"], "storage": {KEY: "x"}},
   storage={VERIFIER_KEY: VERIFIER}, server={"POST /token": signed_in(tok("x"))})

# get_user on a signed-in session

sc("get-user-signed-in-ok",
   "get_user after a sign-in asks /user with the session's token and returns the user.",
   [INIT, SIGNED_IN_P, GET_USER],
   {"events": ["INITIAL_SESSION", "SIGNED_IN"], "requests": [PASSWORD, USER], "results": {"2": "ok"},
    "storage": {KEY: "p"}},
   server={"POST /token": signed_in(), "GET /user": [user_ok()]})

sc("get-user-signed-in-503-not-retried",
   "A 503 from /user is returned as a retryable error at once, not retried, and the session is kept.",
   [INIT, SIGNED_IN_P, GET_USER, adv(5000)],
   {"events": ["INITIAL_SESSION", "SIGNED_IN"], "requests": [PASSWORD, USER],
    "results": {"2": "err:retryable_fetch"}, "never": ["SIGNED_OUT"], "storage": {KEY: "p"}},
   server={"POST /token": signed_in(), "GET /user": [E503, user_ok()]})

sc("get-user-signed-in-other-4xx-returned",
   "A 401 that is not bad_jwt is returned as an api error without a refresh, and the session is kept.",
   [INIT, SIGNED_IN_P, GET_USER],
   {"events": ["INITIAL_SESSION", "SIGNED_IN"], "requests": [PASSWORD, USER],
    "results": {"2": "err:api:401:no_authorization"}, "never": ["SIGNED_OUT", "TOKEN_REFRESHED"],
    "storage": {KEY: "p"}},
   server={"POST /token": signed_in(tok("q")),
           "GET /user": [err(401, "no_authorization", "This endpoint requires a Bearer token")]})

# ---------------------------------------------------------------- output

def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.dirname(here), help="where to write (default tests/scenarios)")
    ap.add_argument("--list", action="store_true", help="print the generated names and exit")
    args = ap.parse_args()
    if args.list:
        for s in SCENARIOS:
            print(s["name"])
        return 0
    os.makedirs(args.out, exist_ok=True)
    for s in SCENARIOS:
        with open(os.path.join(args.out, s["name"] + ".json"), "w", encoding="utf-8") as f:
            f.write(json.dumps(s, indent=2) + "\n")
    missing = [n for n in sorted(EXAMPLES) if not os.path.exists(os.path.join(args.out, n + ".json"))]
    print("wrote %d scenarios to %s" % (len(SCENARIOS), args.out))
    if missing:
        print("examples missing (copy them from shared/scenarios/): " + ", ".join(missing), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
