//! Checking a trace against a scenario's `expect`.

use crate::scenario::Expect;
use gotrue_session::jwt::decode_claims;
use serde_json::Value;
use std::collections::BTreeMap;

/// The tag of a session: the `ref` claim of its access token, else the suffix of `rt-<tag>`.
pub fn tag_of(access_token: Option<&str>, refresh_token: Option<&str>) -> String {
    if let Some(r) = access_token.and_then(|t| decode_claims(t).ok()).and_then(|c| c.reference) {
        return r;
    }
    match refresh_token.and_then(|t| t.strip_prefix("rt-")) {
        Some(tag) => tag.to_owned(),
        None => "none".to_owned(),
    }
}

fn field<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(*k))
}

/// `METHOD /path?k=v&...` with the query keys sorted.
fn request_label(req: &Value) -> String {
    let method = req["method"].as_str().unwrap_or_default();
    let path = req["path"].as_str().unwrap_or_default();
    let mut query: Vec<(String, String)> = req["query"]
        .as_object()
        .map(|q| q.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned())).collect())
        .unwrap_or_default();
    query.sort();
    if query.is_empty() {
        format!("{method} {path}")
    } else {
        let q: Vec<String> = query.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{method} {path}?{}", q.join("&"))
    }
}

/// Every way the trace misses the expectations (empty: all met).
pub fn check(expect: &Expect, trace: &[Value]) -> Vec<String> {
    let mut problems = Vec::new();
    let events: Vec<&Value> = trace.iter().filter(|l| l.get("event").is_some()).collect();
    let names: Vec<String> = events.iter().filter_map(|l| l["event"].as_str().map(str::to_owned)).collect();
    if let Some(want) = &expect.events {
        if *want != names {
            problems.push(format!("events were {names:?}, expected {want:?}"));
        }
    }
    if let Some(want) = &expect.requests {
        let got: Vec<String> = trace.iter().filter_map(|l| l.get("request")).map(request_label).collect();
        if *want != got {
            problems.push(format!("requests were {got:?}, expected {want:?}"));
        }
    }
    if let Some(want) = &expect.results {
        for (step, pattern) in want {
            let found = trace
                .iter()
                .filter_map(|l| l.get("result"))
                .find(|r| r["call_step"].as_u64().map(|s| s.to_string()).as_deref() == Some(step.as_str()));
            match found {
                None => problems.push(format!("the call of step {step} never completed (expected {pattern})")),
                Some(r) => {
                    if let Err(why) = result_matches(pattern, r) {
                        problems.push(format!("step {step}: expected {pattern}, {why}"));
                    }
                }
            }
        }
    }
    if let Some(want) = &expect.storage {
        let end = trace.last().and_then(|l| field(l, &["end", "storage"])).and_then(Value::as_object);
        let got: BTreeMap<String, String> = end
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| !k.ends_with("-code-verifier"))
                    .map(|(k, v)| {
                        let tag = if v.get("unparsable").is_some() {
                            "unparsable".to_owned()
                        } else {
                            tag_of(v["access_token"].as_str(), v["refresh_token"].as_str())
                        };
                        (k.clone(), tag)
                    })
                    .collect()
            })
            .unwrap_or_default();
        if *want != got {
            problems.push(format!("storage ended as {got:?}, expected {want:?}"));
        }
    }
    if let Some(never) = &expect.never {
        for n in never {
            if names.contains(n) {
                problems.push(format!("{n} occurred"));
            }
        }
    }
    if let Some(want) = &expect.last_event {
        if names.last() != Some(want) {
            problems.push(format!("the last event was {:?}, expected {want}", names.last()));
        }
    }
    if let Some(want) = &expect.initial_session {
        match events.iter().find(|l| l["event"] == "INITIAL_SESSION") {
            None => problems.push("INITIAL_SESSION never occurred".to_owned()),
            Some(l) => {
                let got = match l["access_token"].as_str() {
                    Some(t) => tag_of(Some(t), None),
                    None => "none".to_owned(),
                };
                if got != *want {
                    problems.push(format!("INITIAL_SESSION carried {got}, expected {want}"));
                }
            }
        }
    }
    problems
}

fn result_matches(pattern: &str, r: &Value) -> Result<(), String> {
    let ok = r["ok"].as_bool().unwrap_or(false);
    let kind = r["error"]["kind"].as_str().unwrap_or_default();
    let status = r["error"]["status"].as_u64();
    let code = r["error"]["code"].as_str();
    let got = if ok {
        match r.get("access_token") {
            Some(Value::String(t)) => format!("ok:{}", tag_of(Some(t), None)),
            Some(Value::Null) => "ok:none".to_owned(),
            _ => "ok".to_owned(),
        }
    } else if kind == "api" {
        format!("err:api:{}:{}", status.map(|s| s.to_string()).unwrap_or_default(), code.unwrap_or_default())
    } else {
        format!("err:{kind}")
    };
    let matched = match pattern.split(':').collect::<Vec<_>>().as_slice() {
        ["ok"] => ok,
        ["ok", tag] => got == format!("ok:{tag}"),
        ["err", "api"] => !ok && kind == "api",
        ["err", want_kind] => !ok && kind == *want_kind,
        ["err", "api", s, c] => {
            !ok && kind == "api" && status.map(|x| x.to_string()).as_deref() == Some(*s) && code == Some(*c)
        }
        _ => return Err(format!("the pattern {pattern:?} is not ok, ok:<tag>, err:<kind> or err:api:<status>:<code>")),
    };
    if matched {
        Ok(())
    } else {
        Err(format!("got {got}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn result_patterns() {
        let ok = json!({"ok": true, "error": null, "access_token": null});
        assert!(result_matches("ok", &ok).is_ok());
        assert!(result_matches("ok:none", &ok).is_ok());
        assert!(result_matches("ok:a", &ok).is_err());
        let api = json!({"ok": false, "error": {"kind": "api", "status": 400, "code": "refresh_token_not_found"}});
        assert!(result_matches("err:api:400:refresh_token_not_found", &api).is_ok());
        assert!(result_matches("err:api", &api).is_ok());
        assert!(result_matches("err:api:401:refresh_token_not_found", &api).is_err());
        assert!(result_matches("err:session_missing", &api).is_err());
        assert!(result_matches("bogus", &api).is_err());
    }

    #[test]
    fn tags() {
        assert_eq!(tag_of(None, Some("rt-b")), "b");
        assert_eq!(tag_of(Some("not.a.jwt"), Some("x")), "none");
    }
}
