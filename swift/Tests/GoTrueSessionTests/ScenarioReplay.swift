import Foundation
import GoTrueSession

/// Replays a scenario file (the scenario format of tests/scenarios) through `SessionMachine` from
/// Swift and prints the trace, line for line what `gotrue-session replay FILE` prints. It mirrors
/// cli/src/replay.rs and cli/src/steps.rs: the machine's outputs are carried out in the order the
/// machine gave them, and the outputs of an answer to a storage output queue behind the rest of
/// the batch, as they do behind the rest of the machine's queue in Rust.
final class ScenarioReplay {
    struct ScenarioError: Error, CustomStringConvertible {
        let description: String
    }

    /// The trace of the scenario in `file`, as `gotrue-session replay FILE` prints it.
    static func trace(of file: URL) throws -> String {
        let text = try String(contentsOf: file, encoding: .utf8)
        guard let scenario = try Json.parse(text).objectValue else { throw ScenarioError(description: "not an object") }
        return try ScenarioReplay(scenario).run()
    }

    private enum CallInput {
        case command(Command)
        case autoRefresh(Bool)
        case lifecycle(Lifecycle)
        case network(Reachability)
    }

    private enum Step {
        case call(name: String, input: CallInput)
        case advance(ms: Int64)
        case storageSet(key: String, value: String)
        case storageFail(op: Int, times: Int)
        case restart
    }

    /// An answer due at `at`; ties go in the order the requests were made.
    private struct Due {
        let at: Int64
        let seq: Int
        let requestId: UInt64
        let answer: JsonObject?
    }

    private static let storageOps = ["read", "write", "remove"]

    /// Calls whose result carries the session they yield.
    private static let sessionCalls: Set<String> = [
        "get_session", "refresh_session", "set_session", "sign_in_with_password", "sign_in_with_id_token",
        "sign_in_anonymously", "exchange_code", "verify_otp",
    ]

    private let startMs: Int64
    private let options: JsonObject
    private let storageKey: String
    private let steps: [Step]
    private let offline: [(from: Int64, to: Int64)]

    private var now: Int64
    private var step = 0
    private var store: [String: String] = [:]
    private var faults = [0, 0, 0]
    private var queues: [String: [JsonObject]] = [:]
    private var machine: SessionMachine?
    private var calls: [UInt64: (name: String, step: Int)] = [:]
    private var due: [Due] = []
    private var seq = 0
    private var trace = ""
    // The machine's output queue, mirrored: each step's batch is appended, then carried out in order.
    private var pending: [MachineOutput] = []
    private var nextTimeout: Int64?

    private init(_ scenario: JsonObject) throws {
        startMs = scenario["start_ms"]?.numberValue?.int64 ?? 1_767_225_600_000
        options = scenario["options"]?.objectValue ?? JsonObject()
        storageKey = options["storage_key"]?.stringValue ?? "sb-test-auth-token"
        guard let steps = scenario["steps"]?.arrayValue else { throw ScenarioError(description: "needs `steps`") }
        self.steps = try steps.enumerated().map { i, step in
            guard let m = step.objectValue else { throw ScenarioError(description: "step \(i): not an object") }
            return try ScenarioReplay.parseStep(i, m)
        }
        offline = (scenario["offline_ms"]?.arrayValue ?? []).map {
            let window = $0.arrayValue ?? []
            return (window.first?.numberValue?.int64 ?? 0, window.dropFirst().first?.numberValue?.int64 ?? 0)
        }
        now = startMs
        for (key, value) in scenario["storage"]?.objectValue?.entries ?? [] {
            store[key] = value.stringValue
        }
        for (route, list) in scenario["server"]?.objectValue?.entries ?? [] {
            queues[route] = (list.arrayValue ?? []).compactMap(\.objectValue)
        }
    }

    /// The machine's configuration from the scenario's options; an unusable one is rejected, as
    /// the Rust replay rejects it.
    private func config() throws -> MachineConfig {
        let policy: SessionNotFoundPolicy
        switch options["session_not_found"] {
        case nil, .null?, .string("verify")?: policy = .verify
        case .string("remove")?: policy = .remove
        case .string("defer")?: policy = .defer
        case let other?:
            throw ScenarioError(description: "options.session_not_found: expected verify, remove or defer, got \(other.text)")
        }
        var verifyCooldownMs: Int64?
        switch options["verify_cooldown_ms"] {
        case nil, .null?: verifyCooldownMs = nil
        // An i64, as serde reads it: no fraction, no exponent, nothing out of range.
        case let .number(n)? where n.isInteger && Int64(n.text) != nil: verifyCooldownMs = Int64(n.text)
        case let other?:
            throw ScenarioError(description: "options.verify_cooldown_ms: expected an integer, got \(other.text)")
        }
        return MachineConfig(
            storageKey: storageKey,
            apiKey: "test-anon-key",
            authUrl: "http://localhost/auth/v1",
            autoRefresh: options["auto_refresh_token"]?.boolValue ?? false,
            persistSession: options["persist_session"]?.boolValue ?? true,
            jitter: false,
            sessionNotFound: policy,
            verifyCooldownMs: verifyCooldownMs
        )
    }

    /// The machine; the machine's own refusal of the options (a cooldown out of range) rejects
    /// the scenario, as in the Rust replay.
    private func newMachine() throws -> SessionMachine {
        let config = try config()
        do {
            return try SessionMachine(config: config)
        } catch let error as AuthError {
            throw ScenarioError(description: "options: \(error.detailText)")
        }
    }

    private func run() throws -> String {
        for (i, s) in steps.enumerated() {
            step = i
            try apply(s)
        }
        step = steps.count
        var storage = JsonObject()
        for key in store.keys.sorted() {
            storage[key] = ScenarioReplay.storedSummary(key: key, raw: store[key]!)
        }
        line(["end": .object(["storage": .object(storage)])])
        return trace
    }

    private func line(_ body: JsonObject) {
        var object: JsonObject = ["step": .number(JsonNumber(step))]
        for (key, value) in body.entries { object[key] = value }
        Json.object(object).write(to: &trace)
        trace += "\n"
    }

    private func absorb(_ s: MachineStep) {
        pending += s.outputs
        nextTimeout = s.nextTimeoutMs.map { Int64($0) }
    }

    private func apply(_ s: Step) throws {
        switch s {
        case let .call(name, input):
            if machine == nil {
                guard case .command(.initialize) = input else {
                    throw ScenarioError(description: "step \(step): \(name) before initialize")
                }
                machine = try newMachine()
            }
            let m = machine!
            let at = UInt64(now)
            switch input {
            case let .command(command):
                let st = try m.handleCommand(nowMs: at, command: command)
                absorb(st)
                guard let op = st.op else { throw ScenarioError(description: "step \(step): no operation id") }
                calls[op] = (name, step)
            case let .autoRefresh(on):
                absorb(m.setAutoRefresh(nowMs: at, on: on))
                resultOfAnInstantCall(name)
            case let .lifecycle(state):
                absorb(m.handleLifecycle(nowMs: at, state: state))
                resultOfAnInstantCall(name)
            case let .network(state):
                absorb(m.handleNetwork(nowMs: at, state: state))
                resultOfAnInstantCall(name)
            }
            try drain()
        case let .advance(ms):
            let target = now + ms
            while let t = nextEventTime(), t <= target {
                now = max(now, t)
                try drain()
            }
            now = target
            try drain()
        case let .storageSet(key, value):
            store[key] = value
        case let .storageFail(op, times):
            faults[op] += times
        case .restart:
            machine = nil
            calls.removeAll()
            due.removeAll()
            pending.removeAll()
            nextTimeout = nil
        }
    }

    private func resultOfAnInstantCall(_ name: String) {
        line(["result": .object([
            "call": .string(name), "call_step": .number(JsonNumber(step)), "ok": .bool(true), "error": .null,
        ])])
    }

    private func nextEventTime() -> Int64? {
        let answer = firstDue().map { due[$0].at }
        let timer = machine != nil ? nextTimeout : nil
        return [answer, timer].compactMap { $0 }.min()
    }

    /// The index of the answer to deliver first: the earliest, then the oldest request.
    private func firstDue() -> Int? {
        due.indices.min { a, b in
            (due[a].at, due[a].seq, due[a].requestId) < (due[b].at, due[b].seq, due[b].requestId)
        }
    }

    private func drain() throws {
        var rounds = 0
        while let m = machine {
            rounds += 1
            if rounds > 100_000 {
                throw ScenarioError(description: "step \(step): the machine keeps working without the clock moving")
            }
            if !pending.isEmpty {
                output(m, pending.removeFirst())
                continue
            }
            if let i = firstDue(), due[i].at <= now {
                let answer = due.remove(at: i)
                deliver(m, answer.requestId, answer.answer)
                continue
            }
            if let t = nextTimeout, t <= now {
                absorb(m.handleTimeout(nowMs: UInt64(now)))
                continue
            }
            return
        }
    }

    private func deliver(_ m: SessionMachine, _ id: UInt64, _ answer: JsonObject?) {
        let at = UInt64(now)
        guard let answer, answer["network_error"]?.boolValue != true else {
            absorb(m.handleTransportFailure(nowMs: at, requestId: id, reason: "fetch failed"))
            return
        }
        var headers = [NameValue(name: "content-type", value: "application/json")]
        let extra = answer["headers"]?.objectValue ?? JsonObject()
        for key in extra.entries.map(\.key).sorted() {
            headers.append(NameValue(name: key, value: extra[key]?.stringValue ?? ""))
        }
        let body: Data
        if let raw = answer["raw_body"]?.stringValue {
            body = Data(raw.utf8)
        } else if let value = answer["body"], !value.isNull {
            body = Data(value.text.utf8)
        } else {
            body = Data()
        }
        let status = answer["status"]?.numberValue?.int64 ?? 200
        absorb(m.handleResponse(nowMs: at, requestId: id, response: HttpResponse(
            status: UInt16(truncatingIfNeeded: status), headers: headers, body: body
        )))
    }

    /// `storage_fail`: consumes one injected failure of kind `op` (read, write, remove), if any.
    private func fault(_ op: Int, _ key: String) -> Bool {
        guard faults[op] > 0 else { return false }
        faults[op] -= 1
        line(["storage_error": .object(["op": .string(ScenarioReplay.storageOps[op]), "key": .string(key)])])
        return true
    }

    private func output(_ m: SessionMachine, _ out: MachineOutput) {
        let at = UInt64(now)
        switch out {
        case let .http(request):
            self.request(request)
        case let .storageRead(id, key, _):
            let result: StorageReadResult
            if fault(0, key) {
                result = .failed(reason: "injected read failure")
            } else {
                result = store[key].map { .found(value: $0) } ?? .absent
            }
            absorb(m.handleStorageRead(nowMs: at, id: id, result: result))
        case let .storageWrite(id, key, value):
            var failure: String?
            if fault(1, key) {
                failure = "injected write failure"
            } else {
                let body: JsonObject = key.hasSuffix("-code-verifier")
                    ? ["key": .string(key)]
                    : ["key": .string(key), "tokens": ScenarioReplay.tokens(of: value)]
                store[key] = value
                line(["storage_set": .object(body)])
            }
            absorb(m.handleStorageDone(nowMs: at, id: id, failure: failure))
        case let .storageRemove(id, key):
            var failure: String?
            if fault(2, key) {
                failure = "injected remove failure"
            } else {
                let existed = store.removeValue(forKey: key) != nil
                line(["storage_remove": .object(["key": .string(key), "existed": .bool(existed)])])
            }
            absorb(m.handleStorageDone(nowMs: at, id: id, failure: failure))
        case let .event(event):
            line([
                "event": .string(ScenarioReplay.authJsName(event.kind)),
                "access_token": event.session.map { .string($0.accessToken) } ?? .null,
            ])
        case let .complete(op, outcome):
            if let call = calls.removeValue(forKey: op) {
                line(["result": .object(ScenarioReplay.resultLine(call.name, call.step, outcome))])
            }
        case .storageUnlock, .diagnostic:
            // One process per replay: there is no other process to lock out.
            break
        }
    }

    private func request(_ req: HttpRequest) {
        var query = JsonObject()
        for q in req.query { query[q.name] = .string(q.value) }
        let body: Json = req.body.map { (try? Json.parse($0)) ?? .string($0) } ?? .null
        let method = req.method == .get ? "GET" : "POST"
        let auth = req.headers.first { $0.name.lowercased() == "authorization" }?.value
        let bearer: Json = auth.flatMap { $0.hasPrefix("Bearer ") ? Json.string(String($0.dropFirst(7))) : nil } ?? .null
        line(["request": .object([
            "method": .string(method), "path": .string(req.path), "query": .object(query), "bearer": bearer, "body": body,
        ])])
        let elapsed = now - startMs
        let isOffline = offline.contains { elapsed >= $0.from && elapsed < $0.to }
        var answer: JsonObject?
        let route = "\(method) \(req.path)"
        if !isOffline, var queue = queues[route], !queue.isEmpty {
            answer = queue.removeFirst()
            queues[route] = queue
        }
        let delay = answer?["delay_ms"]?.numberValue?.int64 ?? 0
        seq += 1
        due.append(Due(at: now + delay, seq: seq, requestId: req.id, answer: answer))
    }

    // MARK: - What the trace prints

    /// The event's name as auth-js spells it, which the trace uses.
    static func authJsName(_ kind: EventKind) -> String {
        switch kind {
        case .initialSession: return "INITIAL_SESSION"
        case .signedIn: return "SIGNED_IN"
        case .signedOut: return "SIGNED_OUT"
        case .tokenRefreshed: return "TOKEN_REFRESHED"
        case .userUpdated: return "USER_UPDATED"
        case .passwordRecovery: return "PASSWORD_RECOVERY"
        }
    }

    static func tokens(of raw: String) -> Json {
        guard let value = try? Json.parse(raw) else { return .object(["unparsable": .bool(true)]) }
        let m = value.objectValue
        return .object([
            "access_token": m?["access_token"] ?? .null,
            "refresh_token": m?["refresh_token"] ?? .null,
        ])
    }

    private static func storedSummary(key: String, raw: String) -> Json {
        key.hasSuffix("-code-verifier") ? .object(["present": .bool(true)]) : tokens(of: raw)
    }

    private static func resultLine(_ call: String, _ callStep: Int, _ outcome: OpOutcome) -> JsonObject {
        var line: JsonObject = ["call": .string(call), "call_step": .number(JsonNumber(callStep))]
        var value: OpValue?
        switch outcome {
        case let .success(v):
            value = v
            line["ok"] = .bool(true)
            line["error"] = .null
        case let .failure(error):
            line["ok"] = .bool(false)
            line["error"] = .object([
                "kind": .string(error.kind),
                "status": error.httpStatus.map { .number(JsonNumber($0)) } ?? .null,
                "code": error.errorCode.map { .string($0) } ?? .null,
            ])
        }
        if sessionCalls.contains(call) {
            if case let .session(session)? = value, let session {
                line["access_token"] = .string(session.accessToken)
            } else {
                line["access_token"] = .null
            }
        }
        if call == "get_user" || call == "get_user_with_jwt" {
            if case let .user(user)? = value {
                line["user_id"] = .string(user.id)
            } else {
                line["user_id"] = .null
            }
        }
        return line
    }

    // MARK: - Steps, as cli/src/steps.rs parses them

    private static func text(_ m: JsonObject, _ key: String) throws -> String {
        guard let s = m[key]?.stringValue else { throw ScenarioError(description: "needs a string `\(key)`") }
        return s
    }

    private static func parseStep(_ i: Int, _ m: JsonObject) throws -> Step {
        func at(_ e: String) -> ScenarioError { ScenarioError(description: "step \(i): \(e)") }
        if let call = m["call"] {
            guard let name = call.stringValue else { throw at("`call` must be a string") }
            do {
                return .call(name: name, input: try input(name, m))
            } catch let error as ScenarioError {
                throw at("\(name): \(error.description)")
            }
        }
        if let advance = m["advance_ms"] {
            guard let n = advance.numberValue, n.isInteger, !n.text.hasPrefix("-"), let ms = n.int64 else {
                throw at("advance_ms must be a whole number of ms")
            }
            return .advance(ms: ms)
        }
        if let set = m["storage_set"] {
            guard let o = set.objectValue else { throw at("storage_set must be an object") }
            return .storageSet(key: try text(o, "key"), value: try text(o, "value"))
        }
        if let fail = m["storage_fail"] {
            guard let o = fail.objectValue else { throw at("storage_fail must be an object") }
            guard let op = o["op"]?.stringValue.flatMap({ storageOps.firstIndex(of: $0) }) else {
                throw at("storage_fail.op must be read, write or remove")
            }
            return .storageFail(op: op, times: Int(o["times"]?.numberValue?.int64 ?? 1))
        }
        if m.contains("restart") { return .restart }
        throw at("unknown step")
    }

    private static func input(_ name: String, _ m: JsonObject) throws -> CallInput {
        let optional = { (key: String) in m[key]?.stringValue }
        switch name {
        case "initialize": return .command(.initialize)
        case "get_session": return .command(.getSession)
        case "get_user": return .command(.getUser)
        case "get_user_with_jwt": return .command(.getUserWithJwt(jwt: try text(m, "jwt")))
        case "refresh_session": return .command(.refreshSession)
        case "set_session":
            return .command(.setSession(accessToken: try text(m, "access_token"), refreshToken: try text(m, "refresh_token")))
        case "sign_out":
            let scope: SignOutScope
            switch optional("scope") {
            case nil, "global": scope = .global
            case "local": scope = .local
            case "others": scope = .others
            case let other?: throw ScenarioError(description: "unknown scope \"\(other)\"")
            }
            return .command(.signOut(scope: scope))
        case "sign_in_with_password":
            return .command(.signInWithPassword(email: optional("email"), phone: optional("phone"), password: try text(m, "password")))
        case "exchange_code": return .command(.exchangeCode(authCode: try text(m, "auth_code")))
        case "sign_in_with_id_token":
            return .command(.signInWithIdToken(
                provider: try text(m, "provider"), token: try text(m, "token"),
                nonce: optional("nonce"), accessToken: optional("access_token")
            ))
        case "sign_in_anonymously":
            return .command(.signInAnonymously(dataJson: m.contains("data") ? m["data"]?.text : nil))
        case "verify_otp":
            let recipient: OtpRecipient
            if let email = optional("email") {
                recipient = .email(email: email)
            } else if let phone = optional("phone") {
                recipient = .phone(phone: phone)
            } else {
                recipient = .tokenHash
            }
            return .command(.verifyOtp(recipient: recipient, token: try text(m, "token"), otpType: optional("type") ?? "email"))
        case "start_auto_refresh": return .autoRefresh(true)
        case "stop_auto_refresh": return .autoRefresh(false)
        case "lifecycle":
            switch try text(m, "state") {
            case "foreground": return .lifecycle(.foreground)
            case "background": return .lifecycle(.background)
            case let other: throw ScenarioError(description: "unknown state \"\(other)\"")
            }
        case "network":
            switch try text(m, "state") {
            case "online": return .network(.online)
            case "offline": return .network(.offline)
            case let other: throw ScenarioError(description: "unknown state \"\(other)\"")
            }
        default:
            throw ScenarioError(description: "unknown call \"\(name)\"")
        }
    }
}
