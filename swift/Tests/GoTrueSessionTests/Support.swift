import Foundation
import GoTrueSession
import XCTest

let storageKey = "sb-swift-auth-token"

/// Client options for `server`: a short retry schedule so bursts end within a second, no jitter.
func options(_ server: FakeServer, autoRefresh: Bool) -> ClientOptions {
    ClientOptions(
        url: server.url,
        anonKey: server.anonKey,
        storageKey: storageKey,
        autoRefresh: autoRefresh,
        jitter: false,
        requestTimeoutMs: 5_000,
        retry: RetryPolicy(baseDelayMs: 20, burstWindowMs: 300, cooldownMs: 1_000)
    )
}

/// The two transports every founding-case test runs with.
enum Via: String, CaseIterable {
    case builtIn = "built-in"
    case urlSession = "URLSession"

    func make() -> HttpTransport? {
        switch self {
        case .builtIn: return nil
        case .urlSession: return URLSessionTransport(timeout: 5)
        }
    }
}

/// Events of a client, recorded from a listener registered before the calls under test.
final class Recorder: AuthEventListener, @unchecked Sendable {
    private let lock = NSLock()
    private var recorded: [AuthEvent] = []
    private var hasEnded = false

    func onEvent(event: AuthEvent) {
        lock.lock()
        recorded.append(event)
        lock.unlock()
    }

    func onEnd() {
        lock.lock()
        hasEnded = true
        lock.unlock()
    }

    var events: [AuthEvent] {
        lock.lock()
        defer { lock.unlock() }
        return recorded
    }

    var kinds: [EventKind] {
        events.map { $0.kind }
    }

    var ended: Bool {
        lock.lock()
        defer { lock.unlock() }
        return hasEnded
    }
}

/// A store that fails on demand (a full disk, a locked keychain), or throws an error it did not
/// declare (a bug in the app's store).
final class FlakyStorage: SessionStorage, @unchecked Sendable {
    struct BugInTheStore: Error {}

    let inner = MemoryStorage()
    private let lock = NSLock()
    private var failReads = 0
    private var failWrites = 0
    private var throwUndeclared = 0

    func failNextReads(_ count: Int) {
        lock.lock()
        failReads = count
        lock.unlock()
    }

    func failNextWrites(_ count: Int) {
        lock.lock()
        failWrites = count
        lock.unlock()
    }

    func throwUndeclaredOnNextReads(_ count: Int) {
        lock.lock()
        throwUndeclared = count
        lock.unlock()
    }

    /// Takes one from `counter` when it is positive.
    private static func take(_ counter: inout Int) -> Bool {
        guard counter > 0 else { return false }
        counter -= 1
        return true
    }

    func get(key: String) throws -> String? {
        lock.lock()
        let undeclared = Self.take(&throwUndeclared)
        var fail = false
        if !undeclared { fail = Self.take(&failReads) }
        lock.unlock()
        if undeclared { throw BugInTheStore() }
        if fail { throw StorageError.Unavailable(reason: "injected read failure") }
        return inner.get(key: key)
    }

    func set(key: String, value: String) throws {
        lock.lock()
        let fail = Self.take(&failWrites)
        lock.unlock()
        if fail { throw StorageError.Unavailable(reason: "injected write failure") }
        inner.set(key: key, value: value)
    }

    func remove(key: String) throws {
        inner.remove(key: key)
    }
}

/// A client over `storage`, initialized and signed in as the seeded user.
func signedIn(
    _ server: FakeServer,
    _ storage: SessionStorage,
    autoRefresh: Bool = false,
    via: Via = .builtIn,
    file: StaticString = #filePath,
    line: UInt = #line
) async throws -> AuthClient {
    let client = try AuthClient(options: options(server, autoRefresh: autoRefresh), storage: storage, transport: via.make())
    try await client.initialize()
    let session = try await client.signInWithPassword(email: FakeServer.email, password: FakeServer.password)
    XCTAssertNotNil(session, "a session", file: file, line: line)
    return client
}

/// Rewrites the stored session's `expires_at` to now + `seconds`, as if time had passed.
func ageStoredSession(_ storage: SessionStorage, seconds: Int) throws {
    guard let text = try storage.get(key: storageKey),
          var session = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
    else {
        throw TestFailure("no stored session to age")
    }
    session["expires_at"] = Int(Date().timeIntervalSince1970) + seconds
    let data = try JSONSerialization.data(withJSONObject: session)
    try storage.set(key: storageKey, value: String(decoding: data, as: UTF8.self))
}

/// Waits until `check` holds, polling, for at most `timeout` seconds.
func eventually(
    _ what: String,
    timeout: TimeInterval = 15,
    _ check: () async throws -> Bool
) async throws {
    let deadline = Date().addingTimeInterval(timeout)
    while true {
        if try await check() { return }
        if Date() > deadline { throw TestFailure("not within \(timeout) s: \(what)") }
        try await Task.sleep(nanoseconds: 10_000_000)
    }
}

func pause(ms: UInt64) async throws {
    try await Task.sleep(nanoseconds: ms * 1_000_000)
}

/// Runs `body`, which must fail with an `AuthError` of `kind`; returns that error.
@discardableResult
func expectAuthError<T>(
    _ kind: String,
    _ what: String = "",
    file: StaticString = #filePath,
    line: UInt = #line,
    _ body: () async throws -> T
) async -> AuthError? {
    do {
        _ = try await body()
        XCTFail("expected AuthError \(kind), got a result. \(what)", file: file, line: line)
        return nil
    } catch let error as AuthError {
        XCTAssertEqual(error.kind, kind, "\(error). \(what)", file: file, line: line)
        return error
    } catch {
        XCTFail("expected AuthError \(kind), got \(error). \(what)", file: file, line: line)
        return nil
    }
}

/// Runs `body` with a server, stopping it (when the test started it) whatever happens.
func withServer<T>(_ body: (FakeServer) async throws -> T) async throws -> T {
    let server = try await FakeServer.start()
    do {
        let result = try await body(server)
        await server.close()
        return result
    } catch {
        await server.close()
        throw error
    }
}

/// A fresh temporary folder, removed after `body`.
func withTemporaryDirectory<T>(_ body: (URL) async throws -> T) async throws -> T {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gotrue-swift-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    return try await body(dir)
}

/// `body` must throw `CancellationError`.
func XCTAssertThrowsCancellation(
    file: StaticString = #filePath,
    line: UInt = #line,
    _ body: () async throws -> Void
) async {
    do {
        try await body()
        XCTFail("expected CancellationError, got a result", file: file, line: line)
    } catch is CancellationError {
        // Expected.
    } catch {
        XCTFail("expected CancellationError, got \(error)", file: file, line: line)
    }
}
