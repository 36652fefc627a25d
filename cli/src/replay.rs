//! Drives the session machine through a scenario on a virtual clock and records the trace.

use crate::scenario::{Answer, Scenario};
use crate::steps::{self, CallInput, Step, StorageOp};
use crate::trace::{Body, CallResult, ErrorLine, Line, Request, RequestBody, StorageSet, Summary, Tokens};
use gotrue_session::{
    AuthError, Command, Config, HttpRequest, HttpResponse, OpId, OpValue, Output, RequestId, SessionMachine,
    SessionNotFoundPolicy, StorageFailure, TransportFailure, VerifyCooldown,
};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::rc::Rc;

/// A step may not make the machine run more than this many rounds without the clock moving:
/// more means a loop, which is a bug worth a clear error rather than a hang.
const MAX_ROUNDS_PER_INSTANT: u32 = 100_000;

/// A prepared scenario: parsed steps, ready to replay any number of times.
pub struct Prepared {
    sc: Scenario,
    steps: Vec<Step>,
    /// The scripted answers per route (`METHOD /path`), built once (a replay only clones bytes).
    routes: Vec<(String, Vec<Canned>)>,
    /// The scenario's storage at the start, with what the trace shows for each value.
    storage: BTreeMap<String, Rc<Stored>>,
}

/// A stored value and what the trace shows for it, worked out once when it is stored.
struct Stored {
    value: String,
    summary: Summary,
}

impl Stored {
    /// Shared: a replay starts from the prepared store without copying its values.
    fn new(key: &str, value: String) -> Rc<Stored> {
        let summary = if key.ends_with("-code-verifier") {
            Summary::Present { present: true }
        } else {
            Summary::Tokens(Rc::new(Tokens::of(&value)))
        };
        Rc::new(Stored { value, summary })
    }
}

/// A scripted answer ready to deliver: `None` is a connection failure.
struct Canned {
    delay_ms: u64,
    response: Option<HttpResponse>,
}

impl Canned {
    fn from(a: &Answer) -> Canned {
        let response = (!a.network_error).then(|| {
            let mut headers: Vec<(String, String)> = vec![("content-type".into(), "application/json".into())];
            headers.extend(a.headers.iter().map(|(k, v)| (k.clone(), v.clone())));
            let body = match (&a.raw_body, &a.body) {
                (Some(raw), _) => raw.clone().into_bytes(),
                (None, Some(b)) => b.to_string().into_bytes(),
                (None, None) => Vec::new(),
            };
            HttpResponse { status: a.status.unwrap_or(200), headers, body }
        });
        Canned { delay_ms: a.delay_ms, response }
    }
}

impl Prepared {
    /// Parses the steps of a loaded scenario.
    pub fn new(sc: Scenario) -> Result<Self, String> {
        let steps = sc.steps.iter().enumerate().map(|(i, m)| steps::parse(i, m)).collect::<Result<Vec<_>, _>>()?;
        let routes =
            sc.server.iter().map(|(route, list)| (route.clone(), list.iter().map(Canned::from).collect())).collect();
        let storage = sc.storage.iter().map(|(k, v)| (k.clone(), Stored::new(k, v.clone()))).collect();
        Ok(Prepared { sc, steps, routes, storage })
    }

    /// The scenario.
    pub fn scenario(&self) -> &Scenario {
        &self.sc
    }

    /// Replays once, returning the trace lines.
    pub fn run(&self) -> Result<Vec<Line>, String> {
        let mut r = Replay::new(&self.sc, &self.routes, self.storage.clone());
        for (i, step) in self.steps.iter().enumerate() {
            r.step = i;
            r.apply(step)?;
        }
        r.step = self.steps.len();
        let storage = std::mem::take(&mut r.store).into_iter().map(|(k, v)| (k, v.summary.clone())).collect();
        r.line(Body::End(storage));
        Ok(r.trace)
    }
}

/// An answer due at a time, in arrival order.
type Due = Reverse<(u64, u64, u64)>;

struct Replay<'a> {
    sc: &'a Scenario,
    now: u64,
    step: usize,
    store: BTreeMap<String, Rc<Stored>>,
    faults: [u32; 3],
    routes: &'a [(String, Vec<Canned>)],
    /// Per route, how many of its answers were given.
    given: Vec<usize>,
    machine: Option<SessionMachine>,
    /// Calls in progress: their operation, name and step (a few at a time: a list).
    calls: Vec<(OpId, String, usize)>,
    due: BinaryHeap<Due>,
    /// Answers on their way, by arrival number.
    answers: Vec<(u64, RequestId, Option<&'a Canned>)>,
    seq: u64,
    trace: Vec<Line>,
}

impl<'a> Replay<'a> {
    fn new(sc: &'a Scenario, routes: &'a [(String, Vec<Canned>)], store: BTreeMap<String, Rc<Stored>>) -> Self {
        Replay {
            sc,
            now: sc.start_ms,
            step: 0,
            store,
            faults: [0; 3],
            routes,
            given: vec![0; routes.len()],
            machine: None,
            calls: Vec::new(),
            due: BinaryHeap::new(),
            answers: Vec::new(),
            seq: 0,
            trace: Vec::new(),
        }
    }

    fn line(&mut self, body: Body) {
        self.trace.push(Line { step: self.step, body });
    }

    /// The machine's configuration from the scenario's options; an unusable option is an error.
    fn config(&self) -> Result<Config, String> {
        let o = &self.sc.options;
        let mut cfg = Config::new(o.storage_key.clone(), "test-anon-key");
        cfg.auto_refresh = o.auto_refresh_token;
        cfg.persist_session = o.persist_session;
        cfg.jitter = false;
        cfg.session_not_found = match o.session_not_found.as_deref() {
            None | Some("verify") => SessionNotFoundPolicy::Verify,
            Some("remove") => SessionNotFoundPolicy::Remove,
            Some("defer") => SessionNotFoundPolicy::Defer,
            Some(other) => {
                return Err(format!("options.session_not_found: expected verify, remove or defer, got {other:?}"))
            }
        };
        if let Some(ms) = o.verify_cooldown_ms {
            cfg.verify_cooldown =
                VerifyCooldown::from_ms(ms).map_err(|e| format!("options.verify_cooldown_ms: {e}"))?;
        }
        Ok(cfg)
    }

    fn apply(&mut self, step: &Step) -> Result<(), String> {
        match step {
            Step::Call { name, input } => {
                if self.machine.is_none() {
                    if !matches!(input, CallInput::Command(Command::Initialize)) {
                        return Err(format!("step {}: {name} before initialize", self.step));
                    }
                    self.machine = Some(SessionMachine::new(self.config()?));
                }
                let now = self.now;
                let m = self.machine.as_mut().ok_or("no client")?;
                match input {
                    CallInput::Command(cmd) => {
                        let op = m.handle_command(now, cmd.clone());
                        self.calls.push((op, name.clone(), self.step));
                    }
                    other => {
                        match other {
                            CallInput::AutoRefresh(on) => m.set_auto_refresh(now, *on),
                            CallInput::Lifecycle(l) => m.handle_lifecycle(now, *l),
                            CallInput::Network(n) => m.handle_network(now, *n),
                            CallInput::Command(_) => {}
                        }
                        let line = CallResult {
                            call: name.clone(),
                            call_step: self.step,
                            ok: true,
                            error: None,
                            access_token: None,
                            user_id: None,
                        };
                        self.line(Body::Result(line));
                    }
                }
                self.drain()?;
            }
            Step::Advance(ms) => {
                let target = self.now + ms;
                while let Some(t) = self.next_event_time().filter(|t| *t <= target) {
                    self.now = self.now.max(t);
                    self.drain()?;
                }
                self.now = target;
                self.drain()?;
            }
            Step::StorageSet { key, value } => {
                self.store.insert(key.clone(), Stored::new(key, value.clone()));
            }
            Step::StorageFail { op, times } => self.faults[*op as usize] += times,
            Step::Restart => {
                self.machine = None;
                self.calls.clear();
                self.due.clear();
                self.answers.clear();
            }
        }
        Ok(())
    }

    fn next_event_time(&self) -> Option<u64> {
        let answer = self.due.peek().map(|Reverse((t, _, _))| *t);
        let timer = self.machine.as_ref().and_then(SessionMachine::poll_timeout);
        answer.into_iter().chain(timer).min()
    }

    /// Runs everything due at `now`: outputs, answers whose time has come, timers.
    fn drain(&mut self) -> Result<(), String> {
        let mut rounds = 0;
        loop {
            rounds += 1;
            if rounds > MAX_ROUNDS_PER_INSTANT {
                return Err(format!("step {}: the machine keeps working without the clock moving", self.step));
            }
            let Some(m) = self.machine.as_mut() else { return Ok(()) };
            if let Some(out) = m.poll_output() {
                self.output(out);
                continue;
            }
            if let Some(Reverse((t, seq, _))) = self.due.peek().copied() {
                if t <= self.now {
                    self.due.pop();
                    if let Some(at) = self.answers.iter().position(|(s, _, _)| *s == seq) {
                        let (_, id, answer) = self.answers.swap_remove(at);
                        self.deliver(id, answer);
                    }
                    continue;
                }
            }
            if m.poll_timeout().is_some_and(|t| t <= self.now) {
                m.handle_timeout(self.now);
                continue;
            }
            return Ok(());
        }
    }

    fn deliver(&mut self, id: RequestId, answer: Option<&Canned>) {
        let now = self.now;
        let Some(m) = self.machine.as_mut() else { return };
        match answer.and_then(|a| a.response.as_ref()) {
            None => m.handle_transport_failure(now, id, TransportFailure::new("fetch failed")),
            Some(resp) => m.handle_response(now, id, resp.clone()),
        }
    }

    fn fault(&mut self, op: StorageOp, key: &str) -> bool {
        let n = &mut self.faults[op as usize];
        if *n == 0 {
            return false;
        }
        *n -= 1;
        self.line(Body::StorageError { op: op.as_str(), key: key.to_owned() });
        true
    }

    fn output(&mut self, out: Output) {
        let now = self.now;
        match out {
            Output::Http(req) => self.request(req),
            Output::StorageRead { id, key, .. } => {
                let result = if self.fault(StorageOp::Read, &key) {
                    Err(StorageFailure::new("injected read failure"))
                } else {
                    Ok(self.store.get(&key).map(|s| s.value.clone()))
                };
                self.machine_mut().handle_storage_read(now, id, result);
            }
            Output::StorageWrite { id, key, value } => {
                let result = if self.fault(StorageOp::Write, &key) {
                    Err(StorageFailure::new("injected write failure"))
                } else {
                    let stored = Stored::new(&key, value);
                    let tokens = match &stored.summary {
                        Summary::Tokens(t) => Some(Rc::clone(t)),
                        Summary::Present { .. } => None,
                    };
                    self.store.insert(key.clone(), stored);
                    self.line(Body::StorageSet(StorageSet { key, tokens }));
                    Ok(())
                };
                self.machine_mut().handle_storage_done(now, id, result);
            }
            Output::StorageRemove { id, key } => {
                let result = if self.fault(StorageOp::Remove, &key) {
                    Err(StorageFailure::new("injected remove failure"))
                } else {
                    let existed = self.store.remove(&key).is_some();
                    self.line(Body::StorageRemove { key, existed });
                    Ok(())
                };
                self.machine_mut().handle_storage_done(now, id, result);
            }
            Output::Event(e) => {
                let access_token = e.session.map(|s| s.access_token);
                self.line(Body::Event { kind: e.kind.as_str(), access_token });
            }
            Output::Complete { op, result } => {
                if let Some(at) = self.calls.iter().position(|(o, _, _)| *o == op) {
                    let (_, call, call_step) = self.calls.swap_remove(at);
                    let line = result_line(call, call_step, result);
                    self.line(Body::Result(line));
                }
            }
            // One process per replay: there is no other process to lock out.
            Output::StorageUnlock { .. } | Output::Diagnostic(_) => {}
        }
    }

    fn machine_mut(&mut self) -> &mut SessionMachine {
        self.machine.as_mut().expect("outputs come only from a running machine")
    }

    fn request(&mut self, req: HttpRequest) {
        let elapsed = self.now - self.sc.start_ms;
        let offline = self.sc.offline_ms.iter().any(|(from, to)| elapsed >= *from && elapsed < *to);
        let method = req.method.as_str();
        let is_route = |route: &str| route.strip_prefix(method).and_then(|r| r.strip_prefix(' ')) == Some(&req.path);
        let answer = match self.routes.iter().position(|(route, _)| is_route(route)) {
            Some(r) if !offline => {
                let next = self.routes[r].1.get(self.given[r]);
                self.given[r] += usize::from(next.is_some());
                next
            }
            _ => None,
        };
        let delay = answer.as_ref().map_or(0, |a| a.delay_ms);
        self.seq += 1;
        self.due.push(Reverse((self.now + delay, self.seq, req.id.0)));
        self.answers.push((self.seq, req.id, answer));
        let line = Request {
            method: req.method.as_str(),
            bearer: req.bearer().map(str::to_owned),
            body: req.body.as_deref().map(RequestBody::new),
            path: req.path,
            query: req.query,
        };
        self.line(Body::Request(line));
    }
}

/// Calls whose result carries the session they yield.
const SESSION_CALLS: &[&str] = &[
    "get_session",
    "refresh_session",
    "set_session",
    "sign_in_with_password",
    "sign_in_with_id_token",
    "sign_in_anonymously",
    "exchange_code",
    "verify_otp",
];

fn result_line(call: String, call_step: usize, result: Result<OpValue, AuthError>) -> CallResult {
    let ok = result.is_ok();
    let wants_session = SESSION_CALLS.contains(&call.as_str());
    let wants_user = call == "get_user" || call == "get_user_with_jwt";
    let (mut access_token, mut user_id, mut error) = (None, None, None);
    match result {
        Ok(OpValue::Session(Some(s))) => access_token = Some(s.access_token),
        Ok(OpValue::User(u)) => user_id = Some(u.id.clone()),
        Ok(_) => {}
        Err(e) => error = Some(ErrorLine { kind: e.kind.as_str(), status: e.status, code: e.code }),
    }
    CallResult {
        call,
        call_step,
        ok,
        error,
        access_token: wants_session.then_some(access_token),
        user_id: wants_user.then_some(user_id),
    }
}
