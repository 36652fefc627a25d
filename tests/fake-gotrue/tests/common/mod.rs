//! A tiny std-only HTTP/1.1 client for the tests: one request per connection, bounded in time.

#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use gotrue_fake::FakeGoTrue;
use serde_json::Value;

/// How long any read or write may block.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// An answer.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `code` of a versioned GoTrue error body.
    pub fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or_default().to_owned()
    }
}

/// Sends raw bytes on a new connection and reads one answer.
pub fn send_raw(addr: SocketAddr, bytes: &[u8]) -> io::Result<Resp> {
    let mut s = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    s.write_all(bytes)?;
    read_response(&mut s)
}

/// Reads one answer (Content-Length body, or to EOF without one).
pub fn read_response(s: &mut TcpStream) -> io::Result<Resp> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed before the head ended"));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("bad status line {status_line:?}")))?;
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned())).collect();
    let mut body = buf[head_end + 4..].to_vec();
    let length =
        headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("content-length")).map(|(_, v)| v.parse::<usize>());
    match length {
        Some(Ok(n)) => {
            while body.len() < n {
                let got = s.read(&mut chunk)?;
                if got == 0 {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed in the middle of the body"));
                }
                body.extend_from_slice(&chunk[..got]);
            }
            body.truncate(n);
        }
        Some(Err(_)) => return Err(io::Error::new(io::ErrorKind::InvalidData, "bad Content-Length")),
        None if status == 204 || status == 100 => {}
        None => {
            s.read_to_end(&mut body)?;
        }
    }
    Ok(Resp { status, headers, body })
}

/// Builds request bytes.
pub fn request_bytes(method: &str, target: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Vec<u8> {
    let mut out = format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n").into_bytes();
    for (k, v) in headers {
        out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    if let Some(b) = body {
        out.extend_from_slice(format!("Content-Type: application/json\r\nContent-Length: {}\r\n", b.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    if let Some(b) = body {
        out.extend_from_slice(b);
    }
    out
}

/// A client for one server, sending `apikey` and `X-Supabase-Api-Version: 2024-01-01` as
/// auth-js does.
pub struct Client {
    pub addr: SocketAddr,
    pub anon_key: String,
    pub versioned: bool,
}

impl Client {
    pub fn new(server: &FakeGoTrue) -> Client {
        Client { addr: server.addr(), anon_key: server.anon_key().to_owned(), versioned: true }
    }

    /// A GoTrue request under `/auth/v1`.
    pub fn call(&self, method: &str, path: &str, bearer: Option<&str>, body: Option<&Value>) -> io::Result<Resp> {
        let auth = bearer.map(|b| format!("Bearer {b}"));
        let mut headers: Vec<(&str, &str)> = vec![("apikey", &self.anon_key)];
        if self.versioned {
            headers.push(("X-Supabase-Api-Version", "2024-01-01"));
        }
        if let Some(a) = &auth {
            headers.push(("Authorization", a));
        }
        let body = body.map(|b| b.to_string().into_bytes());
        send_raw(self.addr, &request_bytes(method, &format!("/auth/v1{path}"), &headers, body.as_deref()))
    }

    pub fn must(&self, method: &str, path: &str, bearer: Option<&str>, body: Option<&Value>) -> Resp {
        self.call(method, path, bearer, body).unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    pub fn password(&self, email: &str, password: &str) -> Resp {
        self.must(
            "POST",
            "/token?grant_type=password",
            None,
            Some(&serde_json::json!({"email": email, "password": password})),
        )
    }

    /// Signs ada in and returns the token answer.
    pub fn sign_in(&self) -> Value {
        let r = self.password("ada@example.com", "correct horse");
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
    }

    pub fn refresh(&self, refresh_token: &str) -> Resp {
        self.must(
            "POST",
            "/token?grant_type=refresh_token",
            None,
            Some(&serde_json::json!({"refresh_token": refresh_token})),
        )
    }

    pub fn try_refresh(&self, refresh_token: &str) -> io::Result<Resp> {
        self.call(
            "POST",
            "/token?grant_type=refresh_token",
            None,
            Some(&serde_json::json!({"refresh_token": refresh_token})),
        )
    }

    pub fn user(&self, access_token: &str) -> Resp {
        self.must("GET", "/user", Some(access_token), None)
    }

    pub fn try_user(&self, access_token: &str) -> io::Result<Resp> {
        self.call("GET", "/user", Some(access_token), None)
    }

    pub fn logout(&self, access_token: &str, scope: &str) -> Resp {
        self.must("POST", &format!("/logout?scope={scope}"), Some(access_token), None)
    }

    /// An admin request (no API key needed).
    pub fn admin(&self, method: &str, path: &str, body: Option<&Value>) -> Resp {
        let body = body.map(|b| b.to_string().into_bytes());
        send_raw(self.addr, &request_bytes(method, path, &[], body.as_deref()))
            .unwrap_or_else(|e| panic!("{path}: {e}"))
    }
}

/// The `refresh_token` and `access_token` of a token answer.
pub fn tokens(v: &Value) -> (String, String) {
    let field = |k: &str| v[k].as_str().unwrap_or_else(|| panic!("no {k} in {v}")).to_owned();
    (field("access_token"), field("refresh_token"))
}

/// Decodes a JWT's claims (no verification).
pub fn claims(jwt: &str) -> Value {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    let payload = jwt.split('.').nth(1).expect("a JWT has a payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url payload")).expect("JSON claims")
}
