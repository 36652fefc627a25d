//! The server: a listener thread, one thread per connection, the shared state behind one mutex,
//! and the path of a request through faults, the API-key gateway and GoTrue's routes.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::faults::{Fault, FaultQueue};
use crate::http::{Conn, Limits, ReadOutcome, Request, Response};
use crate::model::Db;
use crate::routes::{self, Config, Ctx, ReplicaLag};
use crate::util::Rng;

/// How many requests the log keeps (oldest dropped first).
const LOG_CAPACITY: usize = 10_000;

/// Request counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Connections accepted.
    pub connections: u64,
    /// GoTrue requests read (admin requests are not counted).
    pub requests: u64,
    /// Requests refused before routing (malformed, too large, too slow).
    pub rejected: u64,
    /// Requests received, by endpoint: `token:refresh_token`, `token:password`, `token:pkce`,
    /// `token:id_token`, `token:other`, `signup`, `verify`, `user`, `logout`, `health`, `other`.
    pub received: BTreeMap<String, u64>,
    /// Requests that reached GoTrue's logic (not replaced by a fault), by endpoint; a request
    /// refused by the API-key check is not counted here.
    pub handled: BTreeMap<String, u64>,
    /// Faults applied, by kind (`latency`, `reset`, ..., and `down` for requests refused while
    /// the server is down).
    pub faults: BTreeMap<String, u64>,
}

impl Counters {
    /// Requests received for `endpoint` (a key of [`Counters::received`]).
    pub fn received_for(&self, endpoint: &str) -> u64 {
        self.received.get(endpoint).copied().unwrap_or(0)
    }

    /// Requests that reached GoTrue's logic for `endpoint`.
    pub fn handled_for(&self, endpoint: &str) -> u64 {
        self.handled.get(endpoint).copied().unwrap_or(0)
    }

    /// `POST /token?grant_type=refresh_token` requests received.
    pub fn refresh_requests(&self) -> u64 {
        self.received_for("token:refresh_token")
    }

    /// Refresh requests that reached GoTrue's refresh logic (rotated, reused or refused by it).
    pub fn refreshes_handled(&self) -> u64 {
        self.handled_for("token:refresh_token")
    }
}

/// One request in the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// Server time when it was read, Unix ms.
    pub at_ms: i64,
    /// The method.
    pub method: String,
    /// The path as sent.
    pub path: String,
    /// The endpoint key (see [`Counters::received`]).
    pub endpoint: String,
    /// The status answered; `None` when the connection was reset or cut instead.
    pub status: Option<u16>,
    /// The `x-sb-error-code` of the answer, if any.
    pub error_code: Option<String>,
    /// The fault applied, if any.
    pub fault: Option<String>,
}

/// Everything that changes.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub db: Db,
    pub faults: FaultQueue,
    pub counters: Counters,
    pub log: VecDeque<RequestRecord>,
    pub down: bool,
    pub lag: ReplicaLag,
}

impl State {
    fn record(&mut self, r: RequestRecord) {
        if self.log.len() >= LOG_CAPACITY {
            self.log.pop_front();
        }
        self.log.push_back(r);
    }

    fn count_fault(&mut self, name: &str) {
        *self.counters.faults.entry(name.to_owned()).or_insert(0) += 1;
    }
}

/// What every thread shares.
pub(crate) struct Shared {
    pub cfg: Config,
    pub rng: Rng,
    pub clock: Clock,
    pub limits: Limits,
    pub max_connections: usize,
    pub addr: SocketAddr,
    state: Mutex<State>,
    stop: AtomicBool,
    /// Signalled when `stop` is set (wakes sleepers and `wait`).
    halt: (Mutex<bool>, Condvar),
    /// Clones of open client sockets, to cut them at shutdown.
    open: Mutex<HashMap<u64, TcpStream>>,
    next_conn: AtomicU64,
}

impl Shared {
    pub(crate) fn new(cfg: Config, clock: Clock, limits: Limits, max_connections: usize, addr: SocketAddr) -> Shared {
        Shared {
            cfg,
            rng: Rng::new(),
            clock,
            limits,
            max_connections,
            addr,
            state: Mutex::new(State::default()),
            stop: AtomicBool::new(false),
            halt: (Mutex::new(false), Condvar::new()),
            open: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(0),
        }
    }

    /// The state, even if a thread panicked while holding it.
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Asks every thread to stop; returns at once.
    pub(crate) fn request_stop(&self) {
        if self.stop.swap(true, Ordering::SeqCst) {
            return;
        }
        {
            let mut halted = self.halt.0.lock().unwrap_or_else(|e| e.into_inner());
            *halted = true;
            self.halt.1.notify_all();
        }
        for s in self.open.lock().unwrap_or_else(|e| e.into_inner()).values() {
            let _ = s.shutdown(Shutdown::Both);
        }
        // Wake the accept loop.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }

    /// Sleeps `d`, or less if the server stops.
    fn sleep(&self, d: Duration) {
        let guard = self.halt.0.lock().unwrap_or_else(|e| e.into_inner());
        drop(self.halt.1.wait_timeout_while(guard, d, |halted| !*halted));
    }

    /// Blocks until the server is asked to stop.
    pub(crate) fn wait_for_stop(&self) {
        let guard = self.halt.0.lock().unwrap_or_else(|e| e.into_inner());
        drop(self.halt.1.wait_while(guard, |halted| !*halted));
    }

    /// A handler context at the current server time.
    pub(crate) fn ctx(&self, lag: ReplicaLag) -> Ctx<'_> {
        Ctx { cfg: &self.cfg, rng: &self.rng, now_ms: self.clock.now_ms(), lag }
    }
}

/// Binds and starts the accept thread.
pub(crate) fn bind(port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind(("127.0.0.1", port))
}

pub(crate) fn spawn_accept(shared: Arc<Shared>, listener: TcpListener) -> std::io::Result<JoinHandle<()>> {
    thread::Builder::new().name("gotrue-fake-accept".into()).spawn(move || accept_loop(shared, listener))
}

fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    let mut workers: Vec<JoinHandle<()>> = Vec::new();
    for stream in listener.incoming() {
        if shared.stopping() {
            break;
        }
        let Ok(stream) = stream else {
            // Out of descriptors, say: back off a little.
            shared.sleep(Duration::from_millis(10));
            continue;
        };
        workers.retain(|h| !h.is_finished());
        if workers.len() >= shared.max_connections {
            reset(stream);
            continue;
        }
        shared.state().counters.connections += 1;
        let s = Arc::clone(&shared);
        let spawned = thread::Builder::new().name("gotrue-fake-conn".into()).spawn(move || serve_conn(&s, stream));
        if let Ok(h) = spawned {
            workers.push(h);
        }
    }
    drop(listener);
    for h in workers {
        let _ = h.join();
    }
}

/// Resets a connection: SO_LINGER 0, then close, so the peer gets an RST.
fn reset(stream: TcpStream) {
    let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    drop(stream);
}

/// What to do with the connection after a request.
enum Action {
    Answer(Response),
    AnswerThenStop(Response),
    Reset,
    Truncate(Response),
}

fn serve_conn(shared: &Shared, stream: TcpStream) {
    let id = shared.next_conn.fetch_add(1, Ordering::Relaxed);
    if let Ok(clone) = stream.try_clone() {
        shared.open.lock().unwrap_or_else(|e| e.into_inner()).insert(id, clone);
    }
    if shared.stopping() {
        // Stopped between accept and registration: the cut above missed this one.
        let _ = stream.shutdown(Shutdown::Both);
    }
    if let Ok(mut conn) = Conn::new(stream) {
        serve_requests(shared, &mut conn);
    }
    shared.open.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
}

fn serve_requests(shared: &Shared, conn: &mut Conn) {
    loop {
        let req = match conn.read_request(&shared.limits, &shared.stop) {
            ReadOutcome::Request(r) => r,
            ReadOutcome::Closed | ReadOutcome::Shutdown => return,
            ReadOutcome::Reject(resp) => {
                shared.state().counters.rejected += 1;
                let _ = conn.stream.write_all(&resp.to_bytes(true));
                let _ = conn.stream.shutdown(Shutdown::Write);
                // Read (and drop) what the client is still sending for a moment, so closing
                // does not reset the connection before it read the refusal.
                conn.drain(Duration::from_millis(500), 1 << 20);
                return;
            }
        };
        let keep_alive = req.keep_alive() && !shared.stopping();
        match dispatch(shared, &req) {
            Action::Answer(resp) => {
                if conn.stream.write_all(&resp.to_bytes(!keep_alive)).is_err() || !keep_alive {
                    let _ = conn.stream.shutdown(Shutdown::Write);
                    return;
                }
            }
            Action::AnswerThenStop(resp) => {
                let _ = conn.stream.write_all(&resp.to_bytes(true));
                let _ = conn.stream.shutdown(Shutdown::Write);
                shared.request_stop();
                return;
            }
            Action::Reset => {
                // The socket closes (with an RST) when its last handle goes.
                let _ = socket2::SockRef::from(&conn.stream).set_linger(Some(Duration::ZERO));
                return;
            }
            Action::Truncate(resp) => {
                let bytes = resp.to_bytes(true);
                let cut = if resp.body.len() >= 2 { bytes.len() - resp.body.len() / 2 } else { bytes.len() / 2 };
                let _ = conn.stream.write_all(&bytes[..cut]);
                let _ = conn.stream.flush();
                let _ = conn.stream.shutdown(Shutdown::Both);
                return;
            }
        }
    }
}

fn is_admin(path: &str) -> bool {
    path == "/admin" || path.starts_with("/admin/")
}

/// One request through the server: admin routes; else counters, down mode, faults, the API key
/// and GoTrue's routes.
fn dispatch(shared: &Shared, req: &Request) -> Action {
    if is_admin(&req.path) {
        return match crate::admin::handle(shared, req) {
            (resp, false) => Action::Answer(resp),
            (resp, true) => Action::AnswerThenStop(resp),
        };
    }
    let endpoint = routes::endpoint_of(req);
    let key = endpoint.key();
    let mut record = RequestRecord {
        at_ms: shared.clock.now_ms(),
        method: req.method.clone(),
        path: req.path.clone(),
        endpoint: key.to_owned(),
        status: None,
        error_code: None,
        fault: None,
    };
    let fault = {
        let mut st = shared.state();
        st.counters.requests += 1;
        *st.counters.received.entry(key.to_owned()).or_insert(0) += 1;
        if st.down {
            st.count_fault("down");
            record.fault = Some("down".into());
            st.record(record);
            return Action::Reset;
        }
        let fault = st.faults.take(endpoint);
        if let Some(f) = &fault {
            st.count_fault(f.name());
            record.fault = Some(f.name().to_owned());
        }
        fault
    };
    let versioned = crate::error::is_versioned(req.header("x-supabase-api-version"));
    match &fault {
        Some(Fault::Latency { ms }) => shared.sleep(Duration::from_millis(*ms)),
        Some(Fault::Reset) => {
            shared.state().record(record);
            return Action::Reset;
        }
        Some(f) => {
            if let Some(resp) = f.canned(versioned) {
                record.status = Some(resp.status);
                record.error_code = header_of(&resp, "x-sb-error-code");
                shared.state().record(record);
                return Action::Answer(resp);
            }
        }
        None => {}
    }
    let resp = {
        let mut st = shared.state();
        let lag = st.lag;
        let resp = match routes::check_api_key(&shared.cfg, req) {
            Err(e) => e.to_response(versioned),
            Ok(()) => {
                *st.counters.handled.entry(key.to_owned()).or_insert(0) += 1;
                let ctx = shared.ctx(lag);
                routes::handle(&ctx, &mut st.db, req, endpoint)
            }
        };
        record.error_code = header_of(&resp, "x-sb-error-code");
        match fault {
            Some(Fault::ResetAfterCommit) | Some(Fault::Truncated) => {}
            _ => record.status = Some(resp.status),
        }
        st.record(record);
        resp
    };
    match fault {
        Some(Fault::ResetAfterCommit) => Action::Reset,
        Some(Fault::Truncated) => Action::Truncate(resp),
        _ => Action::Answer(resp),
    }
}

fn header_of(resp: &Response, name: &str) -> Option<String> {
    resp.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
}
