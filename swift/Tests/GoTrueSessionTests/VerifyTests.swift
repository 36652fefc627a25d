import Foundation
import GoTrueSession
import XCTest

/// A JWT for `user-1`'s session `sess-1` that expires in 2100 (nobody checks the signature here).
private func jwt(_ ref: String) -> String {
    func base64url(_ s: String) -> String {
        Data(s.utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
    let header = #"{"alg":"HS256","typ":"JWT"}"#
    let claims = #"{"sub":"user-1","aud":"authenticated","role":"authenticated","exp":4102444800,"session_id":"sess-1","ref":"\#(ref)"}"#
    return "\(base64url(header)).\(base64url(claims)).c2ln"
}

/// The session JSON GoTrue answers (and the client stores) for tokens `ref`.
private func sessionJson(_ ref: String) -> String {
    let user: JsonObject = ["id": .string("user-1"), "aud": .string("authenticated"), "role": .string("authenticated")]
    let session: JsonObject = [
        "access_token": .string(jwt(ref)),
        "token_type": .string("bearer"),
        "expires_in": .number(JsonNumber(3600)),
        "expires_at": .number(JsonNumber(4_102_444_800)),
        "refresh_token": .string("rt-\(ref)"),
        "user": .object(user),
    ]
    return Json.object(session).text
}

/// A server whose `/user` doubts every token (a read replica that never catches up) while its
/// refresh endpoint, on the primary, accepts every refresh: the session is alive, `/user` cannot
/// confirm it. Scripted in memory, so these tests need no fake server.
private final class DoubtingServer: HttpTransport, @unchecked Sendable {
    // Unchecked because the compiler cannot see the lock: every access to the state holds it
    // (the client calls `send` from its own threads).
    private let lock = NSLock()
    private var sent: [String] = []
    private var refreshes = 0

    var paths: [String] {
        lock.lock()
        defer { lock.unlock() }
        return sent
    }

    func send(request: HttpRequest) throws -> HttpResponse {
        lock.lock()
        defer { lock.unlock() }
        sent.append(request.path)
        let headers = [NameValue(name: "x-supabase-api-version", value: "2024-01-01")]
        switch request.path {
        case "/user":
            let body = #"{"code":"session_not_found","message":"Session from session_id claim in JWT does not exist"}"#
            return HttpResponse(status: 403, headers: headers, body: Data(body.utf8))
        case "/token":
            refreshes += 1
            return HttpResponse(status: 200, headers: headers, body: Data(sessionJson("r\(refreshes)").utf8))
        default:
            return HttpResponse(status: 404, headers: headers, body: Data(#"{"code":"not_found","message":"no route"}"#.utf8))
        }
    }
}

private func doubtedOptions(verifyCooldownMs: Int64? = nil) -> ClientOptions {
    ClientOptions(
        url: "http://127.0.0.1:9/auth/v1",
        anonKey: "anon",
        storageKey: storageKey,
        autoRefresh: false,
        jitter: false,
        verifyCooldownMs: verifyCooldownMs
    )
}

/// The verify rule of `getUser` (a suspicion from `/user` after a successful verify refresh is
/// `SessionUnconfirmed`; at most one verify refresh per cooldown) and the cooldown's validation,
/// mirroring kotlin/src/test/.../VerifyTests.kt.
final class VerifyTests: XCTestCase {
    func testASuspicionAfterASuccessfulVerifyRefreshIsSessionUnconfirmedAndKeepsTheSession() async throws {
        let storage = MemoryStorage()
        storage.set(key: storageKey, value: sessionJson("a"))
        let server = DoubtingServer()
        let client = try AuthClient(options: doubtedOptions(), storage: storage, transport: server)
        let recorder = Recorder()
        _ = client.subscribe(listener: recorder)
        try await client.initialize()

        let error = await expectAuthError("session_unconfirmed") { try await client.getUser() }
        guard case .SessionUnconfirmed? = error else { return XCTFail("\(String(describing: error))") }
        XCTAssertEqual(error?.httpStatus, 403)
        XCTAssertEqual(error?.errorCode, "session_not_found")
        XCTAssertEqual(error?.isRetryable, true, "session_unconfirmed is retryable")
        XCTAssertEqual(server.paths, ["/user", "/token", "/user"], "verified once, /user retried once")
        let current = await client.currentSession()
        XCTAssertEqual(current?.refreshToken, "rt-r1", "the session is kept")
        XCTAssertTrue(storage.get(key: storageKey)?.contains("rt-r1") == true, "the refreshed session is stored")

        // Within the cooldown (30 s by default) the next suspicion is answered at once, unverified.
        await expectAuthError("session_unconfirmed") { try await client.getUser() }
        XCTAssertEqual(server.paths, ["/user", "/token", "/user", "/user"], "no second refresh")
        await client.shutdown()
        try await eventually("the end of the event delivery") { recorder.ended }
        XCTAssertEqual(recorder.kinds, [.initialSession, .tokenRefreshed], "no SIGNED_OUT")
    }

    func testAZeroCooldownVerifiesEverySuspicionAndStillKeepsTheSession() async throws {
        let storage = MemoryStorage()
        storage.set(key: storageKey, value: sessionJson("a"))
        let server = DoubtingServer()
        let client = try AuthClient(options: doubtedOptions(verifyCooldownMs: 0), storage: storage, transport: server)
        try await client.initialize()
        await expectAuthError("session_unconfirmed") { try await client.getUser() }
        await expectAuthError("session_unconfirmed") { try await client.getUser() }
        XCTAssertEqual(server.paths, ["/user", "/token", "/user", "/user", "/token", "/user"])
        let current = await client.currentSession()
        XCTAssertEqual(current?.refreshToken, "rt-r2")
        await client.shutdown()
    }

    func testACooldownOutOfRangeFailsConstructionWithInvalidInput() throws {
        for ms: Int64 in [-1, 600_001, .min, .max] {
            do {
                _ = try AuthClient(options: doubtedOptions(verifyCooldownMs: ms), storage: MemoryStorage(), transport: DoubtingServer())
                XCTFail("client: \(ms) ms accepted")
            } catch let error as AuthError {
                XCTAssertEqual(error.kind, "invalid_input", "\(error)")
                XCTAssertTrue(error.detailText.contains("verify_cooldown must be between 0"), error.detailText)
            }
            let config = MachineConfig(storageKey: storageKey, apiKey: "anon", authUrl: "http://x/auth/v1", verifyCooldownMs: ms)
            do {
                _ = try SessionMachine(config: config)
                XCTFail("machine: \(ms) ms accepted")
            } catch let error as AuthError {
                XCTAssertEqual(error.kind, "invalid_input", "\(error)")
                XCTAssertTrue(error.detailText.contains("\(ms) ms"), error.detailText)
            }
        }
        for ms: Int64? in [nil, 0, 600_000] {
            let client = try AuthClient(options: doubtedOptions(verifyCooldownMs: ms), storage: MemoryStorage(), transport: DoubtingServer())
            _ = client.storageKey()
            let config = MachineConfig(storageKey: storageKey, apiKey: "anon", authUrl: "http://x/auth/v1", verifyCooldownMs: ms)
            _ = try SessionMachine(config: config)
        }
    }
}
