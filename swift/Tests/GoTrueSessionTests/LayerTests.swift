import Foundation
import GoTrueSession
import XCTest
#if canImport(Security)
import Security
#endif

/// The adapters on their own, mirroring kotlin/src/test/.../LayerTests.kt.
final class LayerTests: XCTestCase {
    // MARK: - FileStorage

    func testFileStorageAbsentIsNilAndSetOverwriteGetRemove() async throws {
        try await withTemporaryDirectory { dir in
            let folder = dir.appendingPathComponent("store")
            let storage = FileStorage(directory: folder)
            XCTAssertNil(try storage.get(key: "sb-x-auth-token"))
            try storage.set(key: "sb-x-auth-token", value: "{\"a\":1}")
            XCTAssertEqual(try storage.get(key: "sb-x-auth-token"), "{\"a\":1}")
            try storage.set(key: "sb-x-auth-token", value: "two ✓")
            XCTAssertEqual(try storage.get(key: "sb-x-auth-token"), "two ✓")
            try storage.remove(key: "sb-x-auth-token")
            try storage.remove(key: "sb-x-auth-token")
            XCTAssertNil(try storage.get(key: "sb-x-auth-token"))
            let left = try FileManager.default.contentsOfDirectory(atPath: folder.path)
            XCTAssertEqual(left, [], "no temporary file is left")
        }
    }

    func testFileStorageIsOwnerOnlyAndUsesTheRustShellsFileNames() async throws {
        try await withTemporaryDirectory { dir in
            let folder = dir.appendingPathComponent("store")
            let storage = FileStorage(directory: folder)
            try storage.set(key: "k", value: "v")
            XCTAssertEqual(try permissions(folder.path), 0o700)
            XCTAssertEqual(try permissions(folder.appendingPathComponent("k").path), 0o600)
            XCTAssertEqual(FileStorage.fileName("../../etc/passwd"), "%2E.%2F..%2Fetc%2Fpasswd")
            XCTAssertEqual(FileStorage.fileName(".hidden"), "%2Ehidden")
            XCTAssertEqual(FileStorage.fileName(""), "%00")
            XCTAssertEqual(FileStorage.fileName("sb-abc-auth-token-code-verifier"), "sb-abc-auth-token-code-verifier")
            XCTAssertEqual(FileStorage.fileName("é"), "%C3%A9")
            try storage.set(key: "../escape", value: "x")
            XCTAssertTrue(FileManager.default.fileExists(atPath: folder.appendingPathComponent("%2E.%2Fescape").path),
                          "hostile keys stay inside the folder")
        }
    }

    func testFileStorageCreatesMissingParentFolders() async throws {
        try await withTemporaryDirectory { dir in
            let folder = dir.appendingPathComponent("a/b/c")
            let storage = FileStorage(directory: folder)
            try storage.set(key: "k", value: "v")
            XCTAssertEqual(try storage.get(key: "k"), "v")
            XCTAssertEqual(try permissions(folder.path), 0o700)
        }
    }

    func testFileStorageUnreadableEntryIsUnavailableNotAbsent() async throws {
        try await withTemporaryDirectory { dir in
            let storage = FileStorage(directory: dir)
            // A folder where the file should be.
            try FileManager.default.createDirectory(at: dir.appendingPathComponent("k"), withIntermediateDirectories: false)
            assertUnavailable { _ = try storage.get(key: "k") }
            assertUnavailable { try storage.set(key: "k", value: "v") }
            // A file where the folder should be.
            try Data("not a folder".utf8).write(to: dir.appendingPathComponent("file"))
            let blocked = FileStorage(directory: dir.appendingPathComponent("file/store"))
            assertUnavailable { try blocked.set(key: "k", value: "v") }
            assertUnavailable { _ = try blocked.get(key: "k") }
        }
    }

    // MARK: - URLSessionTransport

    func testURLSessionTransportReturnsErrorStatusesAsAnswersWithBodyAndHeaders() async throws {
        try await withServer { server in
            let transport = URLSessionTransport()
            let request = HttpRequest(
                id: 1,
                method: .get,
                url: "\(server.url)/user",
                path: "/user",
                query: [],
                headers: [NameValue(name: "apikey", value: server.anonKey),
                          NameValue(name: "X-Supabase-Api-Version", value: "2024-01-01")],
                body: nil
            )
            let response = try transport.send(request: request)
            XCTAssertEqual(response.status, 401)
            let text = String(decoding: response.body, as: UTF8.self)
            XCTAssertTrue(text.contains("no_authorization"), text)
            XCTAssertTrue(response.headers.contains {
                $0.name.lowercased() == "x-sb-error-code" && $0.value == "no_authorization"
            }, "\(response.headers)")
            var post = request
            post.method = .post
            post.url = "\(server.url)/token?grant_type=password"
            post.path = "/token"
            post.body = "{}"
            XCTAssertEqual(try transport.send(request: post).status, 400)
        }
    }

    func testURLSessionTransportNoAnswerIsATransportErrorWithoutTheQuery() throws {
        // Nothing listens on port 1 of the loopback address: the connection is refused.
        let transport = URLSessionTransport(timeout: 2)
        let request = HttpRequest(
            id: 1,
            method: .post,
            url: "http://127.0.0.1:1/auth/v1/token?grant_type=refresh_token",
            path: "/token",
            query: [NameValue(name: "grant_type", value: "refresh_token")],
            headers: [],
            body: "{\"refresh_token\":\"secret\"}"
        )
        do {
            _ = try transport.send(request: request)
            XCTFail("expected a TransportError")
        } catch TransportError.Failed(let reason) {
            XCTAssertFalse(reason.contains("grant_type") || reason.contains("secret"), reason)
        }
    }

    /// The fake server's faults as URLSession sees them on this platform: a proxy's HTML page is
    /// an answer (the core classifies it), a reset connection is a `TransportError`, and an
    /// answer over the cap is refused.
    func testURLSessionTransportUnderTheFakeServersFaults() async throws {
        try await withServer { server in
            let request = HttpRequest(
                id: 1, method: .get, url: "\(server.url)/user", path: "/user", query: [],
                headers: [NameValue(name: "apikey", value: server.anonKey)], body: nil
            )
            try await server.inject("user", ["kind": "proxy_page", "status": 403])
            let page = try URLSessionTransport(timeout: 5).send(request: request)
            XCTAssertEqual(page.status, 403)
            XCTAssertTrue(String(decoding: page.body, as: UTF8.self).lowercased().contains("<html"))

            try await server.inject("user", ["kind": "reset"])
            XCTAssertThrowsError(try URLSessionTransport(timeout: 5).send(request: request)) { error in
                guard case TransportError.Failed = error else { return XCTFail("\(error)") }
            }

            let big = String(repeating: "x", count: 4_096)
            try await server.inject("user", ["kind": "raw", "status": 200, "body": big])
            // Cut one byte past the cap, for the core to refuse as too large.
            let capped = try URLSessionTransport(timeout: 5, maxBodyBytes: 1_024).send(request: request)
            XCTAssertEqual(capped.status, 200)
            XCTAssertEqual(capped.body.count, 1_025)

            // And after all of that, a normal answer.
            XCTAssertEqual(try URLSessionTransport(timeout: 5).send(request: request).status, 401)
        }
    }

    // MARK: - KeychainStorage

    #if canImport(Security)
    func testKeychainStorageAbsentSetOverwriteGetRemove() throws {
        // A unique service: the test never touches an app's items. On macOS the unsigned test
        // runner has no keychain entitlement, so the file-based keychain is used there.
        #if os(macOS)
        let storage = KeychainStorage(service: "io.supabase.gotrue-session.tests.\(UUID().uuidString)",
                                      useDataProtectionKeychain: false)
        #else
        let storage = KeychainStorage(service: "io.supabase.gotrue-session.tests.\(UUID().uuidString)")
        #endif
        do {
            // Outside XCTAssert, which would record the error instead of letting it reach `catch`.
            let absent = try storage.get(key: "sb-x-auth-token")
            XCTAssertNil(absent)
            try storage.set(key: "sb-x-auth-token", value: "{\"a\":1}")
        } catch StorageError.Unavailable(let reason) {
            // No usable keychain in this test process (no entitlement, a locked CI keychain).
            throw XCTSkip("the keychain is not usable here: \(reason)")
        }
        defer { try? storage.remove(key: "sb-x-auth-token") }
        XCTAssertEqual(try storage.get(key: "sb-x-auth-token"), "{\"a\":1}")
        try storage.set(key: "sb-x-auth-token", value: "two ✓")
        XCTAssertEqual(try storage.get(key: "sb-x-auth-token"), "two ✓")
        XCTAssertNil(try storage.get(key: "another-key"), "items are per key")
        try storage.remove(key: "sb-x-auth-token")
        try storage.remove(key: "sb-x-auth-token")
        XCTAssertNil(try storage.get(key: "sb-x-auth-token"))
    }
    #endif

    // MARK: - AuthError accessors, MemoryStorage, SessionMachine

    func testAuthErrorAccessors() {
        let error = AuthError.RetryableFetch(detail: "busy", status: 503, code: "unexpected_failure", retryAfterMs: 2_000)
        XCTAssertEqual(error.kind, "retryable_fetch")
        XCTAssertEqual(error.httpStatus, 503)
        XCTAssertEqual(error.errorCode, "unexpected_failure")
        XCTAssertEqual(error.detailText, "busy")
        XCTAssertEqual(error.retryAfter, Date(timeIntervalSince1970: 2))
        XCTAssertTrue(error.isRetryable)
        let missing = AuthError.SessionMissing(detail: "no session", status: nil, code: nil, retryAfterMs: nil)
        XCTAssertEqual(missing.kind, "session_missing")
        XCTAssertNil(missing.httpStatus)
        XCTAssertFalse(missing.isRetryable)
    }

    func testMemoryStorage() {
        let storage = MemoryStorage()
        XCTAssertNil(storage.get(key: "k"))
        storage.set(key: "k", value: "v")
        XCTAssertEqual(storage.snapshot(), ["k": "v"])
        storage.remove(key: "k")
        XCTAssertEqual(storage.snapshot(), [:])
    }

    /// The raw machine, driven by hand: initialize against an empty store announces
    /// INITIAL_SESSION without a session and completes the operation.
    func testSessionMachineInitializeWithAnEmptyStore() throws {
        let machine = try SessionMachine(config: MachineConfig(
            storageKey: storageKey, apiKey: "anon", authUrl: "http://127.0.0.1:9/auth/v1"
        ))
        machine.seedJitter(seed: 7)
        let now: UInt64 = 1_700_000_000_000
        let first = try machine.handleCommand(nowMs: now, command: .initialize)
        let op = try XCTUnwrap(first.op)
        var pending = first.outputs
        var events: [AuthEvent] = []
        var completed: [UInt64] = []
        var steps = 0
        while !pending.isEmpty {
            steps += 1
            XCTAssertLessThan(steps, 100, "the machine keeps asking")
            if steps >= 100 { break }
            let output = pending.removeFirst()
            switch output {
            case let .storageRead(id, key, _):
                XCTAssertTrue(key.hasPrefix(storageKey), key)
                pending += machine.handleStorageRead(nowMs: now, id: id, result: .absent).outputs
            case let .storageWrite(id, _, _), let .storageRemove(id, _):
                pending += machine.handleStorageDone(nowMs: now, id: id, failure: nil).outputs
            case let .event(event):
                events.append(event)
            case let .complete(completedOp, _):
                completed.append(completedOp)
            case .http, .storageUnlock, .diagnostic:
                break
            }
        }
        XCTAssertEqual(events.map { $0.kind }, [.initialSession])
        XCTAssertNil(events.first?.session)
        XCTAssertEqual(completed, [op])
        XCTAssertNil(machine.session())
    }

    // MARK: - Helpers

    private func permissions(_ path: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return try FakeServer.int(attributes[.posixPermissions]) & 0o777
    }

    private func assertUnavailable(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) {
        do {
            try body()
            XCTFail("expected StorageError.Unavailable", file: file, line: line)
        } catch StorageError.Unavailable {
            // Expected: "unavailable", never "absent".
        } catch {
            XCTFail("expected StorageError.Unavailable, got \(error)", file: file, line: line)
        }
    }
}
