//! Every request the core sends, built in one place so every shell sends the same bytes.

use crate::api::{OtpRecipient, SignOutScope};
use crate::config::Config;
use crate::http::{HttpRequest, Method, RequestId};
use serde_json::{json, Value};

/// The API version the core speaks; error codes are read from `code` from this version on.
pub const API_VERSION: &str = "2024-01-01";

fn build(
    cfg: &Config,
    id: RequestId,
    method: Method,
    path: &str,
    grant: Option<(&str, &str)>,
    bearer: Option<&str>,
    body: Option<String>,
) -> HttpRequest {
    let mut headers = vec![
        ("apikey".to_owned(), cfg.api_key.clone()),
        ("X-Client-Info".to_owned(), cfg.client_info.clone()),
        ("X-Supabase-Api-Version".to_owned(), API_VERSION.to_owned()),
    ];
    if body.is_some() {
        headers.push(("Content-Type".to_owned(), "application/json;charset=UTF-8".to_owned()));
    }
    if let Some(token) = bearer {
        headers.push(("Authorization".to_owned(), format!("Bearer {token}")));
    }
    HttpRequest {
        id,
        method,
        path: path.to_owned(),
        query: grant.map(|(k, v)| vec![(k.to_owned(), v.to_owned())]).unwrap_or_default(),
        headers,
        body,
    }
}

/// auth-js sends an empty security object where a captcha token would go.
fn security() -> Value {
    json!({})
}

/// `POST /token?grant_type=refresh_token`.
pub fn refresh(cfg: &Config, id: RequestId, refresh_token: &str) -> HttpRequest {
    // The most frequent request: its body written straight to text.
    #[derive(serde::Serialize)]
    struct Body<'a> {
        refresh_token: &'a str,
    }
    let body = serde_json::to_string(&Body { refresh_token }).unwrap_or_default();
    build(cfg, id, Method::Post, "/token", Some(("grant_type", "refresh_token")), None, Some(body))
}

/// `GET /user` with an access token.
pub fn get_user(cfg: &Config, id: RequestId, access_token: &str) -> HttpRequest {
    build(cfg, id, Method::Get, "/user", None, Some(access_token), None)
}

/// `POST /logout?scope=...` with an access token.
pub fn logout(cfg: &Config, id: RequestId, access_token: &str, scope: SignOutScope) -> HttpRequest {
    build(cfg, id, Method::Post, "/logout", Some(("scope", scope.as_str())), Some(access_token), None)
}

/// `POST /token?grant_type=password`.
pub fn password(cfg: &Config, id: RequestId, email: Option<&str>, phone: Option<&str>, password: &str) -> HttpRequest {
    let body = match (email, phone) {
        (Some(email), _) => json!({ "email": email, "password": password, "gotrue_meta_security": security() }),
        (None, phone) => {
            json!({ "phone": phone.unwrap_or_default(), "password": password, "gotrue_meta_security": security() })
        }
    };
    build(cfg, id, Method::Post, "/token", Some(("grant_type", "password")), None, Some(body.to_string()))
}

/// `POST /token?grant_type=id_token`.
pub fn id_token(
    cfg: &Config,
    id: RequestId,
    provider: &str,
    token: &str,
    nonce: Option<&str>,
    access_token: Option<&str>,
) -> HttpRequest {
    let mut body = json!({ "provider": provider, "id_token": token, "gotrue_meta_security": security() });
    if let Some(n) = nonce {
        body["nonce"] = json!(n);
    }
    if let Some(a) = access_token {
        body["access_token"] = json!(a);
    }
    build(cfg, id, Method::Post, "/token", Some(("grant_type", "id_token")), None, Some(body.to_string()))
}

/// `POST /signup` without credentials: an anonymous user.
pub fn anonymous(cfg: &Config, id: RequestId, data: Option<&Value>) -> HttpRequest {
    let body = json!({ "data": data.cloned().unwrap_or_else(|| json!({})), "gotrue_meta_security": security() });
    build(cfg, id, Method::Post, "/signup", None, None, Some(body.to_string()))
}

/// `POST /verify`.
pub fn verify_otp(cfg: &Config, id: RequestId, recipient: &OtpRecipient, token: &str, otp_type: &str) -> HttpRequest {
    let body = match recipient {
        OtpRecipient::Email(email) => {
            json!({ "email": email, "token": token, "type": otp_type, "gotrue_meta_security": security() })
        }
        OtpRecipient::Phone(phone) => {
            json!({ "phone": phone, "token": token, "type": otp_type, "gotrue_meta_security": security() })
        }
        OtpRecipient::TokenHash => json!({ "token_hash": token, "type": otp_type }),
    };
    build(cfg, id, Method::Post, "/verify", None, None, Some(body.to_string()))
}

/// `POST /token?grant_type=pkce`.
pub fn pkce_exchange(cfg: &Config, id: RequestId, auth_code: &str, verifier: &str) -> HttpRequest {
    let body = json!({ "auth_code": auth_code, "code_verifier": verifier });
    build(cfg, id, Method::Post, "/token", Some(("grant_type", "pkce")), None, Some(body.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_request_bytes() {
        let cfg = Config::new("k", "anon");
        let r = refresh(&cfg, RequestId(3), "rt-a");
        assert_eq!(r.path, "/token");
        assert_eq!(r.query, vec![("grant_type".to_owned(), "refresh_token".to_owned())]);
        assert_eq!(r.body.as_deref(), Some(r#"{"refresh_token":"rt-a"}"#));
        assert_eq!(r.bearer(), None);
        assert!(r.headers.contains(&("apikey".to_owned(), "anon".to_owned())));
    }

    #[test]
    fn user_request_carries_the_token() {
        let cfg = Config::new("k", "anon");
        let r = get_user(&cfg, RequestId(1), "jwt");
        assert_eq!((r.method, r.bearer(), r.body.as_deref()), (Method::Get, Some("jwt"), None));
    }
}
