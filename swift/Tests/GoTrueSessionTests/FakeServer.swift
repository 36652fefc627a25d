import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import XCTest

/// A test failure with a message (for `throw` in helpers).
struct TestFailure: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}

/// The fake GoTrue server (`gotrue-session serve`), driven through its admin routes
/// (tests/fake-gotrue/README.md).
///
/// - With `GOTRUE_FAKE_URL` set to a running server's root (`http://127.0.0.1:PORT`; this is what
///   swift/run-tests.sh does), every test uses that server, and `start()` first resets what the
///   previous test may have changed: faults, replica lag, "down", the clock offset, every session
///   and the counters. Tests run one at a time (`swift test` without `--parallel`).
/// - Otherwise (on macOS and Linux) each test starts a server of its own,
///   `gotrue-session serve --port 0`, from `GOTRUE_CLI` or this repository's
///   target/debug/gotrue-session (`cargo build -p gotrue-session-cli`), and `close()` stops it.
final class FakeServer: @unchecked Sendable {
    static let email = "ada@example.com"
    static let password = "correct horse"

    /// The auth URL, `http://127.0.0.1:PORT/auth/v1`.
    let url: String
    /// The anon key to send as `apikey`.
    let anonKey: String
    /// The server root, where `/admin/...` lives.
    let root: String
    /// Stops the server this test started; `nil` for the shared one.
    private let stop: (() -> Void)?

    private init(url: String, anonKey: String, root: String, stop: (() -> Void)?) {
        self.url = url
        self.anonKey = anonKey
        self.root = root
        self.stop = stop
    }

    static func start() async throws -> FakeServer {
        let environment = ProcessInfo.processInfo.environment
        if let shared = environment["GOTRUE_FAKE_URL"], !shared.isEmpty {
            let root = shared.hasSuffix("/") ? String(shared.dropLast()) : shared
            let (status, data) = try await request("GET", root + "/admin/config")
            guard status == 200,
                  let config = try JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let url = config["url"] as? String,
                  let key = config["anon_key"] as? String
            else {
                throw TestFailure("GOTRUE_FAKE_URL=\(shared) does not answer /admin/config (HTTP \(status))")
            }
            let server = FakeServer(url: url, anonKey: key, root: root, stop: nil)
            try await server.reset()
            return server
        }
        #if os(macOS) || os(Linux)
        return try await spawn(cli: cli)
        #else
        throw XCTSkip("set GOTRUE_FAKE_URL to a running fake GoTrue server (gotrue-session serve --port 0)")
        #endif
    }

    /// Stops the server if this test started it; the shared one keeps running.
    func close() async {
        guard let stop else { return }
        _ = try? await admin("POST", "/admin/shutdown")
        stop()
    }

    /// Undoes what a previous test may have changed on the shared server.
    func reset() async throws {
        try await admin("POST", "/admin/faults/clear")
        try await admin("POST", "/admin/replica-lag",
                        ["window_ms": 0, "misses": 0, "after_create": false, "after_refresh": false])
        try await admin("POST", "/admin/down", ["down": false])
        try await admin("POST", "/admin/clock", ["offset_ms": 0])
        try await admin("POST", "/admin/sessions/revoke", ["all": true])
        try await admin("POST", "/admin/counters/reset")
    }

    #if os(macOS) || os(Linux)
    /// The `gotrue-session` binary: `GOTRUE_CLI`, else this repository's target/debug one (or
    /// under CARGO_TARGET_DIR).
    static var cli: String {
        let environment = ProcessInfo.processInfo.environment
        if let cli = environment["GOTRUE_CLI"] { return cli }
        let target = environment["CARGO_TARGET_DIR"] ?? repository.appendingPathComponent("target").path
        return target + "/debug/gotrue-session"
    }

    /// The repository's root: this file is swift/Tests/GoTrueSessionTests/FakeServer.swift.
    static var repository: URL {
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
    }

    private static func spawn(cli: String) async throws -> FakeServer {
        guard FileManager.default.isExecutableFile(atPath: cli) else {
            throw TestFailure("\(cli) is missing: run `cargo build -p gotrue-session-cli`, or set GOTRUE_CLI or GOTRUE_FAKE_URL")
        }
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("gotrue-fake-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let output = try FileHandle(forWritingTo: log)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: cli)
        process.arguments = ["serve", "--port", "0"]
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let stop = {
            let deadline = Date().addingTimeInterval(5)
            while process.isRunning, Date() < deadline {
                Thread.sleep(forTimeInterval: 0.02)
            }
            if process.isRunning {
                process.terminate()
                process.waitUntilExit()
            }
            try? output.close()
            try? FileManager.default.removeItem(at: log)
        }
        let deadline = Date().addingTimeInterval(10)
        while true {
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            if let url = value(in: text, after: "fake GoTrue listening at "),
               let key = value(in: text, after: "anon key: ") {
                let root = url.hasSuffix("/auth/v1") ? String(url.dropLast("/auth/v1".count)) : url
                return FakeServer(url: url, anonKey: key, root: root, stop: stop)
            }
            if !process.isRunning || Date() > deadline {
                if process.isRunning { process.terminate() }
                stop()
                throw TestFailure("the fake server did not start within 10 s: \(text)")
            }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
    }

    /// The rest of the line that starts with `prefix`, once the line is complete.
    private static func value(in text: String, after prefix: String) -> String? {
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast() where line.hasPrefix(prefix) {
            return line.dropFirst(prefix.count).trimmingCharacters(in: .whitespaces)
        }
        return nil
    }
    #endif

    // MARK: - Admin routes

    /// An admin call; returns the parsed JSON answer (or throws on a status other than 2xx).
    @discardableResult
    func admin(_ method: String, _ path: String, _ body: [String: Any]? = nil) async throws -> Any? {
        let payload = try body.map { try JSONSerialization.data(withJSONObject: $0) }
        let (status, answer) = try await Self.request(method, root + path, body: payload)
        guard (200..<300).contains(status) else {
            throw TestFailure("admin \(method) \(path): HTTP \(status) \(String(decoding: answer, as: UTF8.self))")
        }
        return answer.isEmpty ? nil : try JSONSerialization.jsonObject(with: answer)
    }

    /// Queues `count` faults on `target` (`refresh`, `user`, `logout`, `token`, `any`, ...).
    func inject(_ target: String, _ fault: [String: Any], count: Int = 1) async throws {
        try await admin("POST", "/admin/faults", ["target": target, "fault": fault, "count": count])
    }

    func clearFaults() async throws {
        try await admin("DELETE", "/admin/faults")
    }

    /// Sign-out from another device: revokes every session of `email`; returns how many.
    func revokeUserSessions(_ email: String = FakeServer.email) async throws -> Int {
        let answer = try await admin("POST", "/admin/sessions/revoke", ["email": email]) as? [String: Any]
        return try Self.int(answer?["revoked"])
    }

    /// A lagging read replica: `GET /user` misses a new session for `windowMs` after it was made,
    /// and on its first `misses` reads however late they come (the deterministic form).
    func setReplicaLag(windowMs: Int = 0, misses: Int = 0, afterCreate: Bool, afterRefresh: Bool) async throws {
        try await admin("POST", "/admin/replica-lag",
                        ["window_ms": windowMs, "misses": misses,
                         "after_create": afterCreate, "after_refresh": afterRefresh])
    }

    func setDown(_ down: Bool) async throws {
        try await admin("POST", "/admin/down", ["down": down])
    }

    /// Refresh requests the server received (faulted ones included).
    func refreshRequests() async throws -> Int {
        try await received("token:refresh_token")
    }

    /// Requests the server received for `endpoint` (`token:refresh_token`, `user`, `logout`, ...).
    func received(_ endpoint: String) async throws -> Int {
        let counters = try await admin("GET", "/admin/counters") as? [String: Any]
        guard let value = (counters?["received"] as? [String: Any])?[endpoint] else { return 0 }
        return try Self.int(value)
    }

    /// The server's active sessions of `email`.
    func sessions(_ email: String = FakeServer.email) async throws -> [[String: Any]] {
        let query = email.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? email
        let answer = try await admin("GET", "/admin/sessions?email=\(query)") as? [String: Any]
        guard let sessions = answer?["sessions"] as? [[String: Any]] else {
            throw TestFailure("no sessions list in \(String(describing: answer))")
        }
        return sessions
    }

    static func int(_ value: Any?) throws -> Int {
        if let n = value as? Int { return n }
        if let n = value as? NSNumber { return n.intValue }
        throw TestFailure("not a number: \(String(describing: value))")
    }

    /// One HTTP request through URLSession.shared.
    static func request(_ method: String, _ url: String, body: Data? = nil) async throws -> (status: Int, data: Data) {
        guard let target = URL(string: url) else { throw TestFailure("not a URL: \(url)") }
        var request = URLRequest(url: target, cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: 10)
        request.httpMethod = method
        if let body {
            request.httpBody = body
            request.setValue("application/json", forHTTPHeaderField: "content-type")
        }
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<(status: Int, data: Data), Error>) in
            URLSession.shared.dataTask(with: request) { data, response, error in
                if let error {
                    continuation.resume(throwing: error)
                } else {
                    let status = (response as? HTTPURLResponse)?.statusCode ?? 0
                    continuation.resume(returning: (status: status, data: data ?? Data()))
                }
            }.resume()
        }
    }
}
