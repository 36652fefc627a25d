//! A small HTTP/1.1 server side: reading one request at a time from a connection (with bounds on
//! every part, so a hostile client gets a 4xx and never a crash), and writing answers.
//!
//! Hand-rolled on purpose: fault injection needs the socket itself (a reset, an answer cut in
//! the middle), which a framework would hide.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Bounds on what a client may send. A real client's requests are far below them: a few
/// headers, an access token of about 1 KiB, JSON bodies of a few hundred bytes.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    /// Request line plus headers: 431 beyond (414 if the request line alone has not ended).
    pub max_head_bytes: usize,
    /// One line of the head: 414 for the request line, 431 for a header.
    pub max_line_bytes: usize,
    /// Number of header lines: 431 beyond.
    pub max_headers: usize,
    /// Content-Length: 413 beyond, before any of the body is read.
    pub max_body_bytes: usize,
    /// Time to send a whole request, from its first byte, or from the connect for a
    /// connection's first request: 408 beyond (a silent connection is closed).
    pub request_timeout: Duration,
    /// Time a kept-alive connection may sit idle between requests.
    pub idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head_bytes: 16 * 1024,
            max_line_bytes: 8 * 1024,
            max_headers: 64,
            max_body_bytes: 64 * 1024,
            request_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(30),
        }
    }
}

/// How often a blocked read wakes up to look at the shutdown flag.
pub(crate) const POLL: Duration = Duration::from_millis(25);

/// One parsed request.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub method: String,
    /// The path, without the query string (not percent-decoded).
    pub path: String,
    /// The decoded query parameters, in order.
    pub query: Vec<(String, String)>,
    /// The headers, in order, names as sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// HTTP/1.0 (closes by default).
    pub http10: bool,
}

impl Request {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The first value of query parameter `name`.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Whether the client wants the connection kept open after this request.
    pub fn keep_alive(&self) -> bool {
        let conn = self.header("connection").map(str::to_ascii_lowercase).unwrap_or_default();
        let tokens: Vec<&str> = conn.split(',').map(str::trim).collect();
        if self.http10 {
            tokens.contains(&"keep-alive")
        } else {
            !tokens.contains(&"close")
        }
    }
}

/// What reading from a connection gave.
#[derive(Debug)]
pub(crate) enum ReadOutcome {
    /// A whole request.
    Request(Request),
    /// The client closed (or went idle too long, or the socket failed): close quietly.
    Closed,
    /// The server is shutting down.
    Shutdown,
    /// A request the server refuses: answer this, then close.
    Reject(Response),
}

/// A client connection with its read buffer (bytes past one request stay for the next).
pub(crate) struct Conn {
    pub stream: TcpStream,
    buf: Vec<u8>,
    /// When the connection was accepted.
    opened: Instant,
    /// Whether a request was already read (the connection was kept alive).
    kept_alive: bool,
}

impl Conn {
    pub fn new(stream: TcpStream) -> io::Result<Conn> {
        stream.set_read_timeout(Some(POLL))?;
        stream.set_write_timeout(Some(Duration::from_secs(10)))?;
        stream.set_nodelay(true)?;
        Ok(Conn { stream, buf: Vec::new(), opened: Instant::now(), kept_alive: false })
    }

    /// Reads the next request, giving up on `stop`.
    pub fn read_request(&mut self, limits: &Limits, stop: &AtomicBool) -> ReadOutcome {
        // A connection's first request is timed from the connect: a client that connects and
        // waits holds a thread just like one that sends slowly. On a kept-alive connection, the
        // next request may come after `idle_timeout`, then is timed from its first byte.
        let (kept_alive, opened) = (self.kept_alive, self.opened);
        let (idle_since, idle_limit) =
            if kept_alive { (Instant::now(), limits.idle_timeout) } else { (opened, limits.request_timeout) };
        let request_clock = || if kept_alive { Instant::now() } else { opened };
        let mut started: Option<Instant> = (!self.buf.is_empty()).then(request_clock);
        // Phase 1: the head. `scanned` bytes were searched already, so a client sending one byte
        // at a time does not cost a rescan of the whole buffer for each.
        let mut scanned = 0;
        let mut line_checked = false;
        let (head_end, body_start) = loop {
            // Check the request line as soon as it ends: a client that will never send a valid
            // head (garbage, HTTP/0.9's bare `GET /path`) gets its 400 now, not at the timeout.
            if !line_checked {
                if let Some(eol) = self.buf[scanned..].iter().position(|&c| c == b'\n') {
                    if let Err(resp) = parse_request_line(&self.buf[..scanned + eol], limits) {
                        return ReadOutcome::Reject(resp);
                    }
                    line_checked = true;
                }
            }
            if let Some(found) = find_head_end(&self.buf, scanned) {
                break found;
            }
            scanned = self.buf.len();
            // Refuse as soon as a limit is passed, without waiting for the line or head to end.
            if !line_checked && self.buf.len() > limits.max_line_bytes {
                return ReadOutcome::Reject(Response::text(414, "URI Too Long\n"));
            }
            if self.buf.len() > limits.max_head_bytes {
                return ReadOutcome::Reject(Response::text(431, "Request Header Fields Too Large\n"));
            }
            match self.fill(stop) {
                Fill::Data => {
                    started.get_or_insert_with(request_clock);
                }
                Fill::Eof | Fill::Failed => return ReadOutcome::Closed,
                Fill::Stop => return ReadOutcome::Shutdown,
                Fill::Idle => {}
            }
            match started {
                None if idle_since.elapsed() > idle_limit => return ReadOutcome::Closed,
                Some(t) if t.elapsed() > limits.request_timeout => {
                    return ReadOutcome::Reject(Response::text(408, "Request Timeout\n"))
                }
                _ => {}
            }
        };
        if head_end > limits.max_head_bytes {
            return ReadOutcome::Reject(Response::text(431, "Request Header Fields Too Large\n"));
        }
        let head = match parse_head(&self.buf[..head_end], limits) {
            Ok(h) => h,
            Err(resp) => return ReadOutcome::Reject(resp),
        };
        let started = started.unwrap_or_else(request_clock);
        // Phase 2: the body.
        let need = head.content_length;
        // Only with `max_body_bytes` near `usize::MAX` could this overflow.
        let Some(end) = body_start.checked_add(need) else {
            return ReadOutcome::Reject(Response::text(413, "Payload Too Large\n"));
        };
        if need > 0
            && self.buf.len() < end
            && head.expect_continue
            && self.stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").is_err()
        {
            return ReadOutcome::Closed;
        }
        while self.buf.len() < end {
            match self.fill(stop) {
                Fill::Data | Fill::Idle => {}
                Fill::Eof | Fill::Failed => return ReadOutcome::Closed,
                Fill::Stop => return ReadOutcome::Shutdown,
            }
            if started.elapsed() > limits.request_timeout {
                return ReadOutcome::Reject(Response::text(408, "Request Timeout\n"));
            }
        }
        let body = self.buf[body_start..end].to_vec();
        self.buf.drain(..end);
        self.kept_alive = true;
        ReadOutcome::Request(Request {
            method: head.method,
            path: head.path,
            query: head.query,
            headers: head.headers,
            body,
            http10: head.http10,
        })
    }

    /// Reads and discards input until the client closes, `max` bytes, or `within` passes.
    pub fn drain(&mut self, within: Duration, max: usize) {
        let start = Instant::now();
        let mut seen = 0usize;
        let mut chunk = [0u8; 8192];
        while start.elapsed() < within && seen < max {
            match self.stream.read(&mut chunk) {
                Ok(0) => return,
                Ok(n) => seen += n,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
                    ) => {}
                Err(_) => return,
            }
        }
    }

    fn fill(&mut self, stop: &AtomicBool) -> Fill {
        if stop.load(Ordering::SeqCst) {
            return Fill::Stop;
        }
        let mut chunk = [0u8; 8192];
        match self.stream.read(&mut chunk) {
            Ok(0) => Fill::Eof,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Fill::Data
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => Fill::Idle,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Fill::Idle,
            Err(_) => Fill::Failed,
        }
    }
}

enum Fill {
    Data,
    Idle,
    Eof,
    Failed,
    Stop,
}

/// The end of the head and the start of the body: after `\r\n\r\n` (or a bare `\n\n`).
/// `buf[..from]` was searched before (the end may straddle it).
fn find_head_end(buf: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut i = from.saturating_sub(2);
    while i < buf.len() {
        if buf[i] == b'\n' {
            if buf.get(i + 1) == Some(&b'\n') {
                return Some((i, i + 2));
            }
            if buf.get(i + 1) == Some(&b'\r') && buf.get(i + 2) == Some(&b'\n') {
                return Some((i, i + 3));
            }
        }
        i += 1;
    }
    None
}

#[derive(Debug)]
struct Head {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    content_length: usize,
    expect_continue: bool,
    http10: bool,
}

fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

fn bad(msg: &str) -> Response {
    Response::text(400, &format!("Bad Request: {msg}\n"))
}

/// A checked request line.
struct RequestLine<'a> {
    method: &'a str,
    /// The target in origin form (`/path?query`).
    origin: &'a str,
    http10: bool,
}

/// Checks a request line (`METHOD target HTTP/1.x`, with or without its `\r`).
fn parse_request_line<'a>(raw: &'a [u8], limits: &Limits) -> Result<RequestLine<'a>, Response> {
    if raw.len() > limits.max_line_bytes {
        return Err(Response::text(414, "URI Too Long\n"));
    }
    let line = std::str::from_utf8(raw).map_err(|_| bad("the request line is not UTF-8"))?;
    let line = line.strip_suffix('\r').unwrap_or(line);
    let parts: Vec<&str> = line.split(' ').collect();
    let [method, target, version] = parts[..] else {
        return Err(bad("malformed request line"));
    };
    if method.is_empty() || !method.bytes().all(is_tchar) {
        return Err(bad("malformed method"));
    }
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        v if v.starts_with("HTTP/") => return Err(Response::text(505, "HTTP Version Not Supported\n")),
        _ => return Err(bad("malformed HTTP version")),
    };
    let origin = if let Some(rest) = target.strip_prefix("http://").or_else(|| target.strip_prefix("https://")) {
        match rest.find('/') {
            Some(i) => &rest[i..],
            None => "/",
        }
    } else {
        target
    };
    if !origin.starts_with('/') || origin.bytes().any(|c| c <= b' ' || c == 0x7f) {
        return Err(bad("malformed request target"));
    }
    Ok(RequestLine { method, origin, http10 })
}

fn parse_head(raw: &[u8], limits: &Limits) -> Result<Head, Response> {
    let mut lines = raw.split(|&c| c == b'\n');
    let RequestLine { method, origin, http10 } = parse_request_line(lines.next().unwrap_or_default(), limits)?;
    let (path, query) = match origin.split_once('?') {
        Some((p, q)) => (p, crate::util::parse_query(q)),
        None => (origin, Vec::new()),
    };
    let mut headers = Vec::new();
    for line in lines {
        if line.len() > limits.max_line_bytes {
            return Err(Response::text(431, "Request Header Fields Too Large\n"));
        }
        let line = std::str::from_utf8(line).map_err(|_| bad("a header line is not UTF-8"))?;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            return Err(bad("folded header lines are not accepted"));
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(bad("malformed header line"));
        };
        if name.is_empty() || !name.bytes().all(is_tchar) {
            return Err(bad("malformed header name"));
        }
        if value.bytes().any(|c| (c < b' ' && c != b'\t') || c == 0x7f) {
            return Err(bad("control character in a header value"));
        }
        headers.push((name.to_owned(), value.trim().to_owned()));
        if headers.len() > limits.max_headers {
            return Err(Response::text(431, "Request Header Fields Too Large\n"));
        }
    }
    if headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("transfer-encoding")) {
        return Err(Response::text(501, "Transfer-Encoding is not supported: send Content-Length\n"));
    }
    let mut content_length: Option<usize> = None;
    for (_, v) in headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case("content-length")) {
        if v.is_empty() || !v.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad("malformed Content-Length"));
        }
        let n: usize = match v.parse() {
            Ok(n) => n,
            Err(_) => return Err(Response::text(413, "Payload Too Large\n")),
        };
        if content_length.is_some_and(|c| c != n) {
            return Err(bad("conflicting Content-Length headers"));
        }
        content_length = Some(n);
    }
    let content_length = content_length.unwrap_or(0);
    if content_length > limits.max_body_bytes {
        return Err(Response::text(413, "Payload Too Large\n"));
    }
    let expect_continue =
        headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("expect") && v.eq_ignore_ascii_case("100-continue"));
    Ok(Head {
        method: method.to_owned(),
        path: path.to_owned(),
        query,
        headers,
        content_length,
        expect_continue,
        http10,
    })
}

/// An answer to write.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16) -> Response {
        Response { status, headers: Vec::new(), body: Vec::new() }
    }

    pub fn json(status: u16, body: &Value) -> Response {
        Response::new(status).header("Content-Type", "application/json").body(body.to_string().into_bytes())
    }

    pub fn text(status: u16, body: &str) -> Response {
        Response::new(status).header("Content-Type", "text/plain; charset=utf-8").body(body.as_bytes().to_vec())
    }

    pub fn html(status: u16, body: &str) -> Response {
        Response::new(status).header("Content-Type", "text/html; charset=UTF-8").body(body.as_bytes().to_vec())
    }

    /// Adds a header (keeps existing ones of the same name).
    pub fn header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets a header, replacing any of the same name.
    pub fn set_header(&mut self, name: &str, value: &str) {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.to_owned()));
    }

    pub fn body(mut self, body: Vec<u8>) -> Response {
        self.body = body;
        self
    }

    /// The bytes on the wire. `close` adds `Connection: close`.
    pub fn to_bytes(&self, close: bool) -> Vec<u8> {
        let mut out = format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status)).into_bytes();
        for (k, v) in &self.headers {
            out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
        }
        let bodiless = self.status == 204 || self.status == 304 || (100..200).contains(&self.status);
        if !bodiless {
            out.extend_from_slice(format!("Content-Length: {}\r\n", self.body.len()).as_bytes());
        }
        if close {
            out.extend_from_slice(b"Connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        if !bodiless {
            out.extend_from_slice(&self.body);
        }
        out
    }
}

/// The reason phrase for a status.
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Payload Too Large",
        414 => "URI Too Long",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        520 => "Unknown Error",
        522 => "Connection Timed Out",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(raw: &str) -> Result<Head, Response> {
        parse_head(raw.as_bytes(), &Limits::default())
    }

    #[test]
    fn parses_a_request_head() {
        let h = head("POST /auth/v1/token?grant_type=refresh_token HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\nExpect: 100-continue").unwrap();
        assert_eq!(h.method, "POST");
        assert_eq!(h.path, "/auth/v1/token");
        assert_eq!(h.query, vec![("grant_type".to_owned(), "refresh_token".to_owned())]);
        assert_eq!(h.content_length, 12);
        assert!(h.expect_continue);
        assert!(!h.http10);
        let abs = head("GET http://127.0.0.1:9/user HTTP/1.0").unwrap();
        assert_eq!(abs.path, "/user");
        assert!(abs.http10);
    }

    #[test]
    fn refuses_malformed_heads() {
        assert_eq!(head("GARBAGE").unwrap_err().status, 400);
        assert_eq!(head("GET user HTTP/1.1").unwrap_err().status, 400);
        assert_eq!(head("GET / HTTP/2.0").unwrap_err().status, 505);
        assert_eq!(head("GET / HTTP/1.1\r\n folded").unwrap_err().status, 400);
        assert_eq!(head("GET / HTTP/1.1\r\nno colon").unwrap_err().status, 400);
        assert_eq!(head("GET / HTTP/1.1\r\nContent-Length: -1").unwrap_err().status, 400);
        assert_eq!(head("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2").unwrap_err().status, 400);
        assert_eq!(head("GET / HTTP/1.1\r\nContent-Length: 99999999999999999999999").unwrap_err().status, 413);
        assert_eq!(head("GET / HTTP/1.1\r\nContent-Length: 1000000").unwrap_err().status, 413);
        assert_eq!(head("POST / HTTP/1.1\r\nTransfer-Encoding: chunked").unwrap_err().status, 501);
        let many: String = (0..100).map(|i| format!("\r\nX-{i}: v")).collect();
        assert_eq!(head(&format!("GET / HTTP/1.1{many}")).unwrap_err().status, 431);
        let long = "a".repeat(8 * 1024);
        assert_eq!(head(&format!("GET /{long} HTTP/1.1")).unwrap_err().status, 414);
        assert_eq!(head(&format!("GET / HTTP/1.1\r\nX-Long: {long}")).unwrap_err().status, 431);
    }

    #[test]
    fn finds_the_end_of_the_head() {
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n\r\nbody", 0), Some((15, 18)));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\n\nbody", 0), Some((14, 16)));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n", 0), None);
        // The end straddles what was searched before.
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n\r\n", 17), Some((15, 18)));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\n\n", 15), Some((14, 16)));
    }

    #[test]
    fn writes_answers() {
        let r = Response::json(200, &serde_json::json!({"a": 1}));
        let s = String::from_utf8(r.to_bytes(true)).unwrap();
        assert!(s.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(s.contains("Content-Length: 7\r\n"));
        assert!(s.contains("Connection: close\r\n"));
        assert!(s.ends_with("\r\n\r\n{\"a\":1}"));
        let nc = String::from_utf8(Response::new(204).to_bytes(false)).unwrap();
        assert_eq!(nc, "HTTP/1.1 204 No Content\r\n\r\n");
    }
}
