//! Sending the core's requests.

use gotrue_session::{HttpRequest, HttpResponse, TransportFailure};

/// Sends one request and returns the server's answer, whatever its status. A failure before
/// any answer (refused, reset, timeout, DNS) is a [`TransportFailure`].
pub trait Transport: Send + Sync {
    /// Sends `request` to `base_url` (the auth URL) joined with its path and query.
    fn send(&self, base_url: &str, request: &HttpRequest) -> Result<HttpResponse, TransportFailure>;
}

#[cfg(feature = "ureq")]
pub use self::ureq_transport::UreqTransport;

#[cfg(feature = "ureq")]
mod ureq_transport {
    use super::Transport;
    use gotrue_session::{HttpRequest, HttpResponse, Method, TransportFailure};
    use std::io::Read as _;
    use std::time::Duration;

    /// The most of a body the transport reads: one byte over the core's limit on an answer
    /// (GoTrue's answers are a few KB), so that the core sees a body too large and refuses it as
    /// `invalid_response` with the limit, as it does for a body from any other transport.
    const READ_AT_MOST: u64 = gotrue_session::limits::MAX_ANSWER_BYTES as u64 + 1;

    /// The built-in transport: ureq (rustls), with a global timeout per request.
    pub struct UreqTransport {
        agent: ureq::Agent,
    }

    impl UreqTransport {
        /// A transport whose requests give up after `timeout`.
        pub fn new(timeout: Duration) -> Self {
            let agent = ureq::Agent::config_builder()
                .timeout_global(Some(timeout))
                .http_status_as_error(false)
                .max_redirects(0)
                .build()
                .into();
            UreqTransport { agent }
        }
    }

    impl Transport for UreqTransport {
        fn send(&self, base_url: &str, request: &HttpRequest) -> Result<HttpResponse, TransportFailure> {
            let url = request.url(base_url);
            let result = match request.method {
                Method::Get => {
                    let mut b = self.agent.get(&url);
                    for (k, v) in &request.headers {
                        b = b.header(k.as_str(), v.as_str());
                    }
                    b.call()
                }
                Method::Post => {
                    let mut b = self.agent.post(&url);
                    for (k, v) in &request.headers {
                        b = b.header(k.as_str(), v.as_str());
                    }
                    match &request.body {
                        Some(body) => b.send(body.as_bytes()),
                        None => b.send_empty(),
                    }
                }
            };
            // The error text names the failure kind (and the host), never the query or headers.
            let mut resp = result.map_err(|e| TransportFailure::new(describe(&e)))?;
            let status = resp.status().as_u16();
            let headers = resp
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                .collect();
            let mut body = Vec::new();
            resp.body_mut()
                .as_reader()
                .take(READ_AT_MOST)
                .read_to_end(&mut body)
                .map_err(|e| TransportFailure::new(format!("reading the answer failed: i/o error: {}", e.kind())))?;
            Ok(HttpResponse { status, headers, body })
        }
    }

    fn describe(e: &ureq::Error) -> String {
        match e {
            ureq::Error::Timeout(t) => format!("timed out ({t})"),
            ureq::Error::HostNotFound => "host not found".to_owned(),
            ureq::Error::ConnectionFailed => "connection failed".to_owned(),
            ureq::Error::Io(io) => format!("i/o error: {}", io.kind()),
            ureq::Error::BodyExceedsLimit(n) => format!("answer larger than {n} bytes"),
            other => other.to_string(),
        }
    }
}
