#!/usr/bin/env python3
"""Checks replay traces against the `expect` blocks of scenario files (standard library only).

    # run every scenario through auth-js (tests/authjs/replay.mjs) and report where it misses `expect`
    python3 tests/scenarios/gen/check_expect.py --authjs [SCENARIO.json ...]

    # check a trace printed by any replayer (ours or auth-js) against one scenario
    python3 tests/scenarios/gen/check_expect.py --trace TRACE.jsonl SCENARIO.json

    # only check that every scenario file is well-formed
    python3 tests/scenarios/gen/check_expect.py --validate

The auth-js replayer is $AUTHJS_REPLAY (a folder holding replay.mjs), else tests/authjs (run `npm ci`
there first). Whether our core and auth-js agree with each other is checked by
tests/authjs/compare.mjs; this script checks a trace against a scenario's `expect`. Error results
may name a kind or only an auth-js error class; the classes are mapped to kinds below.
"""

import argparse
import base64
import glob
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SCENARIOS = os.path.dirname(HERE)
REPO = os.path.dirname(os.path.dirname(SCENARIOS))

AUTHJS_KINDS = {
    "AuthApiError": "api",
    "AuthWeakPasswordError": "api",
    "AuthSessionMissingError": "session_missing",
    "AuthRetryableFetchError": "retryable_fetch",
    "AuthInvalidTokenResponseError": "invalid_response",
    "AuthRefreshDiscardedError": "refresh_discarded",
    "AuthInvalidCredentialsError": "invalid_input",
    "AuthInvalidJwtError": "invalid_input",
}
EXPECT_KEYS = {"events", "requests", "results", "storage", "never", "last_event", "initial_session"}
SCENARIO_KEYS = {"name", "about", "start_ms", "options", "storage", "server", "offline_ms", "steps", "expect"}
OPTION_KEYS = {"storage_key", "auto_refresh_token", "persist_session", "is_server",
               "session_not_found", "verify_cooldown_ms"}  # the last two: this project's extensions


def tag_of_token(token):
    if not isinstance(token, str):
        return None
    if token.startswith("rt-"):
        return token[3:]
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        pad = "=" * (-len(parts[1]) % 4)
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + pad))
        return payload.get("ref")
    except Exception:
        return None


def tag_of_session(tokens):
    if tokens is None:
        return "none"
    if tokens.get("unparsable"):
        return "unparsable"
    return tag_of_token(tokens.get("access_token")) or tag_of_token(tokens.get("refresh_token")) or "none"


def request_string(req):
    q = req.get("query") or {}
    s = "%s %s" % (req["method"], req["path"])
    if q:
        s += "?" + "&".join("%s=%s" % (k, q[k]) for k in sorted(q))
    return s


def result_string(res):
    if res.get("ok"):
        if "access_token" in res:
            return "ok:" + (tag_of_token(res["access_token"]) or "none") if res["access_token"] else "ok:none"
        return "ok"
    e = res.get("error") or {}
    kind = e.get("kind") or AUTHJS_KINDS.get(e.get("name"), "authjs:%s" % e.get("name"))
    if kind == "api":
        return "err:api:%s:%s" % (e.get("status"), e.get("code"))
    return "err:" + kind


def result_matches(expected, res):
    got = result_string(res)
    if expected == "ok":
        return got.startswith("ok")
    if expected.startswith("err:") and not expected.startswith("err:api:"):
        return got == expected
    return got == expected


def check(scenario, lines):
    """Returns the list of differences between a trace (list of dicts) and scenario['expect']."""
    exp = scenario.get("expect") or {}
    events = [l for l in lines if "event" in l]
    names = [l["event"] for l in events]
    reqs = [request_string(l["request"]) for l in lines if "request" in l]
    results = {}
    for l in lines:
        if "result" in l:
            results.setdefault(str(l["result"]["call_step"]), l["result"])
    end = next((l["end"] for l in lines if "end" in l), None)
    diffs = []
    if "events" in exp and names != exp["events"]:
        diffs.append("events: expected %s, got %s" % (exp["events"], names))
    if "requests" in exp and reqs != exp["requests"]:
        diffs.append("requests: expected %s, got %s" % (exp["requests"], reqs))
    for step, want in (exp.get("results") or {}).items():
        res = results.get(step)
        if res is None:
            diffs.append("result of step %s: expected %s, got no result" % (step, want))
        elif not result_matches(want, res):
            diffs.append("result of step %s: expected %s, got %s" % (step, want, result_string(res)))
    if "storage" in exp:
        got = {} if end is None else {k: tag_of_session(v) for k, v in end["storage"].items()
                                      if not k.endswith("-code-verifier")}
        if got != exp["storage"]:
            diffs.append("storage: expected %s, got %s" % (exp["storage"], got))
    for n in exp.get("never") or []:
        if n in names:
            diffs.append("never: %s occurred" % n)
    if "last_event" in exp:
        last = names[-1] if names else None
        if last != exp["last_event"]:
            diffs.append("last_event: expected %s, got %s" % (exp["last_event"], last))
    if "initial_session" in exp:
        first = next((l for l in events if l["event"] == "INITIAL_SESSION"), None)
        got = None if first is None else (tag_of_token(first.get("access_token")) or "none")
        if got != exp["initial_session"]:
            diffs.append("initial_session: expected %s, got %s" % (exp["initial_session"], got))
    return diffs


def validate(path):
    problems = []
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        s = json.loads(text)
    except Exception as e:  # noqa: BLE001
        return ["not JSON: %s" % e]
    name = os.path.basename(path)[:-5]
    if s.get("name") != name:
        problems.append("name %r is not the file name %r" % (s.get("name"), name))
    if not isinstance(s.get("about"), str) or not s["about"]:
        problems.append("no about")
    if not isinstance(s.get("expect"), dict) or not s["expect"]:
        problems.append("no expect")
    else:
        extra = set(s["expect"]) - EXPECT_KEYS
        if extra:
            problems.append("unknown expect keys %s" % sorted(extra))
    extra = set(s) - SCENARIO_KEYS
    if extra:
        problems.append("unknown keys %s" % sorted(extra))
    extra = set(s.get("options") or {}) - OPTION_KEYS
    if extra:
        problems.append("unknown options %s" % sorted(extra))
    steps = s.get("steps") or []
    if not steps or steps[0].get("call") not in ("initialize", None):
        problems.append("the first call is not initialize")
    calls = [st.get("call") for st in steps if "call" in st]
    if calls and calls[0] != "initialize":
        problems.append("the first call is not initialize")
    for step in (s.get("expect") or {}).get("results") or {}:
        i = int(step)
        if i >= len(steps) or "call" not in steps[i]:
            problems.append("results key %s is not a call step" % step)
    return problems


def replay_authjs(replayer, path):
    out = subprocess.run(["node", "replay.mjs", os.path.abspath(path)], cwd=replayer,
                         capture_output=True, text=True, timeout=300)
    lines = []
    for raw in out.stdout.splitlines():
        raw = raw.strip()
        if raw.startswith("{"):
            lines.append(json.loads(raw))
    return lines, out


def main():
    ap = argparse.ArgumentParser(description="check scenario expectations against replay traces")
    ap.add_argument("files", nargs="*", help="scenario files (default: all in tests/scenarios)")
    ap.add_argument("--authjs", action="store_true", help="replay with the auth-js reference replayer")
    ap.add_argument("--trace", help="a trace file (JSON lines) to check against the one scenario given")
    ap.add_argument("--validate", action="store_true", help="only check that the files are well-formed")
    ap.add_argument("--save-traces", help="with --authjs: a folder to write each trace into")
    args = ap.parse_args()
    files = args.files or sorted(glob.glob(os.path.join(SCENARIOS, "*.json")))

    bad = 0
    for f in files:
        for p in validate(f):
            print("%s: %s" % (os.path.basename(f), p))
            bad += 1
    if args.validate or bad:
        print("%d files, %d problems" % (len(files), bad))
        return 1 if bad else 0

    if args.trace:
        if len(files) != 1:
            ap.error("--trace takes exactly one scenario")
        with open(files[0], encoding="utf-8") as f:
            s = json.load(f)
        with open(args.trace, encoding="utf-8") as f:
            lines = [json.loads(l) for l in f if l.strip().startswith("{")]
        diffs = check(s, lines)
        for d in diffs:
            print(d)
        return 1 if diffs else 0

    if args.authjs:
        replayer = os.environ.get("AUTHJS_REPLAY") or os.path.join(REPO, "tests", "authjs")
        differ = 0
        for f in files:
            with open(f, encoding="utf-8") as fh:
                s = json.load(fh)
            lines, proc = replay_authjs(replayer, f)
            if args.save_traces:
                os.makedirs(args.save_traces, exist_ok=True)
                with open(os.path.join(args.save_traces, s["name"] + ".jsonl"), "w", encoding="utf-8") as out:
                    out.write(proc.stdout)
            diffs = check(s, lines)
            if not any("end" in l for l in lines):
                diffs.append("replayer did not finish (exit %s): %s" % (proc.returncode, proc.stderr.strip()[-300:]))
            if diffs:
                differ += 1
                print("DIFF %s" % s["name"])
                for d in diffs:
                    print("    " + d)
            else:
                print("SAME %s" % s["name"])
        print("%d scenarios, %d where auth-js differs from expect" % (len(files), differ))
        return 0
    ap.error("say --authjs, --trace or --validate")


if __name__ == "__main__":
    sys.exit(main())
