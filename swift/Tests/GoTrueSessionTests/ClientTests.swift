import Foundation
import GoTrueSession
import XCTest

/// The client against the fake GoTrue server, mirroring kotlin/src/test/.../ClientTests.kt.
final class ClientTests: XCTestCase {
    // MARK: - The founding case, both ways, with both transports, auto refresh off and on

    func testFoundingCaseTransientBuiltInTransport() async throws {
        for auto in [false, true] {
            try await withServer { server in try await replicaLagSurvives(server, autoRefresh: auto, via: .builtIn) }
        }
    }

    func testFoundingCaseTransientURLSessionTransport() async throws {
        for auto in [false, true] {
            try await withServer { server in try await replicaLagSurvives(server, autoRefresh: auto, via: .urlSession) }
        }
    }

    func testFoundingCaseRevokedBuiltInTransport() async throws {
        for auto in [false, true] {
            try await withServer { server in try await revocationCleansUp(server, autoRefresh: auto, via: .builtIn) }
        }
    }

    func testFoundingCaseRevokedURLSessionTransport() async throws {
        for auto in [false, true] {
            try await withServer { server in try await revocationCleansUp(server, autoRefresh: auto, via: .urlSession) }
        }
    }

    /// A lagging read replica answers `session_not_found` for a new session: the client verifies
    /// with a refresh, which works, so it keeps the session and announces TOKEN_REFRESHED. The lag
    /// is counted in reads, not time, so a slow machine cannot make the first read come after it.
    private func replicaLagSurvives(_ server: FakeServer, autoRefresh: Bool, via: Via) async throws {
        let tag = "\(via.rawValue), auto refresh \(autoRefresh ? "on" : "off")"
        try await server.setReplicaLag(misses: 1, afterCreate: true, afterRefresh: false)
        let storage = MemoryStorage()
        let client = try await signedIn(server, storage, autoRefresh: autoRefresh, via: via)
        let recorder = Recorder()
        _ = client.subscribe(listener: recorder)
        let user = try await client.getUser()
        XCTAssertEqual(user.email, FakeServer.email, tag)
        try await eventually("TOKEN_REFRESHED (\(tag))") { recorder.kinds.contains(.tokenRefreshed) }
        try await pause(ms: 100)
        XCTAssertFalse(recorder.kinds.contains(.signedOut), "\(recorder.kinds) (\(tag))")
        XCTAssertNotNil(storage.get(key: storageKey), "the session is still stored (\(tag))")
        let refreshes = try await server.refreshRequests()
        XCTAssertEqual(refreshes, 1, tag)
        await client.shutdown()
    }

    /// A session revoked from another device: `/user` says `session_not_found`, the verifying
    /// refresh is rejected, and the session is removed once, with SIGNED_OUT.
    private func revocationCleansUp(_ server: FakeServer, autoRefresh: Bool, via: Via) async throws {
        let tag = "\(via.rawValue), auto refresh \(autoRefresh ? "on" : "off")"
        let storage = MemoryStorage()
        let client = try await signedIn(server, storage, autoRefresh: autoRefresh, via: via)
        let recorder = Recorder()
        _ = client.subscribe(listener: recorder)
        let revoked = try await server.revokeUserSessions()
        XCTAssertEqual(revoked, 1, tag)
        let error = await expectAuthError("session_missing", tag) { try await client.getUser() }
        XCTAssertEqual(error?.httpStatus, 403, tag)
        try await eventually("SIGNED_OUT (\(tag))") { recorder.kinds.contains(.signedOut) }
        try await pause(ms: 100)
        XCTAssertEqual(recorder.kinds.filter { $0 == .signedOut }.count, 1, "\(recorder.kinds) (\(tag))")
        XCTAssertEqual(recorder.events.last?.reason, .verifiedRevocation, tag)
        XCTAssertNil(storage.get(key: storageKey), "storage is empty (\(tag))")
        let current = await client.currentSession()
        XCTAssertNil(current, tag)
        await client.shutdown()
    }

    // MARK: - Single flight

    func testConcurrentGetSessionTasksOnAnExpiringSessionMakeOneRefresh() async throws {
        try await withServer { server in
            let storage = MemoryStorage()
            try await signedIn(server, storage).shutdown()
            try ageStoredSession(storage, seconds: 30)
            let client = try AuthClient(options: options(server, autoRefresh: false), storage: storage)
            try await client.initialize()
            let before = try await server.refreshRequests()
            let tokens = try await withThrowingTaskGroup(of: String.self, returning: [String].self) { group in
                for _ in 0..<100 {
                    group.addTask {
                        guard let session = try await client.getSession() else { throw TestFailure("no session") }
                        return session.accessToken
                    }
                }
                var all: [String] = []
                for try await token in group { all.append(token) }
                return all
            }
            let after = try await server.refreshRequests()
            XCTAssertEqual(tokens.count, 100)
            XCTAssertEqual(after - before, 1, "exactly one refresh")
            XCTAssertEqual(Set(tokens).count, 1, "every caller got the same session")
            await client.shutdown()
        }
    }

    func testConcurrentRefreshSessionTasksDuringASlowRefreshShareOneRequest() async throws {
        try await withServer { server in
            let client = try await signedIn(server, MemoryStorage(), via: .urlSession)
            let recorder = Recorder()
            _ = client.subscribe(listener: recorder)
            try await server.inject("refresh", ["kind": "latency", "ms": 1_500])
            let before = try await server.refreshRequests()
            let tokens = try await withThrowingTaskGroup(of: String.self, returning: [String].self) { group in
                for _ in 0..<20 {
                    group.addTask {
                        guard let session = try await client.refreshSession() else { throw TestFailure("no session") }
                        return session.refreshToken
                    }
                }
                var all: [String] = []
                for try await token in group { all.append(token) }
                return all
            }
            let after = try await server.refreshRequests()
            XCTAssertEqual(after - before, 1, "one refresh request")
            XCTAssertEqual(Set(tokens).count, 1, "one rotation")
            try await eventually("TOKEN_REFRESHED") { recorder.kinds.contains(.tokenRefreshed) }
            XCTAssertEqual(recorder.kinds.filter { $0 == .tokenRefreshed }.count, 1)
            await client.shutdown()
        }
    }

    // MARK: - Sign-out

    func testSignOutLocalRemovesTheSessionOnce() async throws {
        try await withServer { server in
            let storage = MemoryStorage()
            let client = try await signedIn(server, storage)
            let recorder = Recorder()
            _ = client.subscribe(listener: recorder)
            try await eventually("INITIAL_SESSION for the late subscriber") { !recorder.events.isEmpty }
            try await client.signOut(scope: .local)
            XCTAssertNil(storage.get(key: storageKey), "storage is empty")
            let current = await client.currentSession()
            XCTAssertNil(current)
            let session = try await client.getSession()
            XCTAssertNil(session)
            await expectAuthError("session_missing") { try await client.getUser() }
            try await eventually("SIGNED_OUT") { recorder.kinds.contains(.signedOut) }
            let signedOut = recorder.events.filter { $0.kind == .signedOut }
            XCTAssertEqual(signedOut.count, 1)
            XCTAssertEqual(signedOut.first?.reason, .userSignOut)
            XCTAssertNil(signedOut.first?.session)
            // The logout request is best effort, sent after the local removal.
            try await eventually("the server's session is gone too") { try await server.sessions().isEmpty }
            await client.shutdown()
        }
    }

    func testSignOutGlobalRevokesEverySessionOfTheUser() async throws {
        try await withServer { server in
            let other = try await signedIn(server, MemoryStorage())
            let client = try await signedIn(server, MemoryStorage(), via: .urlSession)
            let before = try await server.sessions().count
            XCTAssertEqual(before, 2)
            try await client.signOut(scope: .global)
            let after = try await server.sessions().count
            XCTAssertEqual(after, 0)
            let error = await expectAuthError("session_missing") { try await other.getUser() }
            XCTAssertEqual(error?.httpStatus, 403)
            await client.shutdown()
            await other.shutdown()
        }
    }

    func testSignOutLocalWorksWithTheServerDown() async throws {
        try await withServer { server in
            let storage = MemoryStorage()
            let client = try await signedIn(server, storage)
            try await server.setDown(true)
            try await client.signOut(scope: .local)
            XCTAssertNil(storage.get(key: storageKey))
            let current = await client.currentSession()
            XCTAssertNil(current)
            await client.shutdown()
        }
    }

    // MARK: - Stores that fail

    func testAStoreThatCannotBeReadAtLaunchDecidesNothing() async throws {
        try await withServer { server in
            let storage = FlakyStorage()
            try await signedIn(server, storage).shutdown()
            let stored = storage.inner.get(key: storageKey)
            XCTAssertNotNil(stored)
            storage.failNextReads(1)
            let client = try AuthClient(options: options(server, autoRefresh: false), storage: storage)
            let recorder = Recorder()
            _ = client.subscribe(listener: recorder)
            let error = await expectAuthError("storage") { try await client.initialize() }
            XCTAssertEqual(error?.kind, "storage")
            let session = try await client.getSession()
            XCTAssertNotNil(session, "the session is found on the next read")
            XCTAssertEqual(storage.inner.get(key: storageKey), stored, "nothing was removed or rewritten")
            try await eventually("INITIAL_SESSION") { !recorder.events.isEmpty }
            try await pause(ms: 100)
            XCTAssertFalse(recorder.kinds.contains(.signedOut))
            XCTAssertEqual(Array(Set(recorder.kinds)), [.initialSession])
            await client.shutdown()
        }
    }

    func testAFailedWriteOfARefreshedSessionIsKeptInMemoryAndRetried() async throws {
        try await withServer { server in
            let storage = FlakyStorage()
            let client = try await signedIn(server, storage)
            storage.failNextWrites(1)
            guard let rotated = try await client.refreshSession() else { throw TestFailure("no session") }
            XCTAssertFalse(storage.inner.get(key: storageKey)?.contains(rotated.refreshToken) ?? false, "the write failed")
            let current = await client.currentSession()
            XCTAssertEqual(current?.refreshToken, rotated.refreshToken, "kept in memory")
            let session = try await client.getSession()
            XCTAssertEqual(session?.accessToken, rotated.accessToken)
            try await eventually("the write is retried") {
                storage.inner.get(key: storageKey)?.contains(rotated.refreshToken) ?? false
            }
            let diagnostics = await client.diagnostics()
            XCTAssertTrue(diagnostics.contains { $0.kind == .storageWriteFailed })
            await client.shutdown()
        }
    }

    func testAStoreThatThrowsAnUndeclaredErrorIsUnavailableNeverAbsent() async throws {
        try await withServer { server in
            let storage = FlakyStorage()
            try await signedIn(server, storage).shutdown()
            storage.throwUndeclaredOnNextReads(1)
            let client = try AuthClient(options: options(server, autoRefresh: false), storage: storage)
            await expectAuthError("storage") { try await client.initialize() }
            let session = try await client.getSession()
            XCTAssertNotNil(session)
            XCTAssertNotNil(storage.inner.get(key: storageKey))
            await client.shutdown()
        }
    }

    // MARK: - Events

    func testEventsArriveInOrder() async throws {
        try await withServer { server in
            let client = try AuthClient(
                options: options(server, autoRefresh: false), storage: MemoryStorage(), transport: URLSessionTransport()
            )
            let recorder = Recorder()
            _ = client.subscribe(listener: recorder)
            try await client.initialize()
            guard let first = try await client.signInWithPassword(email: FakeServer.email, password: FakeServer.password),
                  let refreshed = try await client.refreshSession()
            else { throw TestFailure("no session") }
            try await client.signOut(scope: .local)
            try await eventually("four events") { recorder.events.count >= 4 }
            try await pause(ms: 100)
            let events = recorder.events
            XCTAssertEqual(events.map { $0.kind }, [.initialSession, .signedIn, .tokenRefreshed, .signedOut])
            XCTAssertNil(events[0].session)
            XCTAssertEqual(events[1].session?.accessToken, first.accessToken)
            XCTAssertEqual(events[2].session?.accessToken, refreshed.accessToken)
            XCTAssertNil(events[3].session)
            await client.shutdown()
        }
    }

    func testASubscriptionNobodyHoldsKeepsDeliveringAndCancelEndsIt() async throws {
        try await withServer { server in
            let client = try AuthClient(
                options: options(server, autoRefresh: false), storage: MemoryStorage(), transport: URLSessionTransport()
            )
            let kept = Recorder()
            let freed = Recorder()
            let subscription = client.subscribe(listener: kept)
            // Discarded: ARC frees the subscription object at once; delivery must go on.
            _ = client.subscribe(listener: freed)
            try await client.initialize()
            _ = try await client.signInWithPassword(email: FakeServer.email, password: FakeServer.password)
            try await eventually("both listeners hear both events") { kept.events.count >= 2 && freed.events.count >= 2 }
            XCTAssertEqual(freed.kinds, [.initialSession, .signedIn])
            XCTAssertFalse(freed.ended, "delivery goes on")
            subscription.cancel()
            try await eventually("the cancelled listener's end") { kept.ended }
            try await client.signOut(scope: .local)
            try await eventually("SIGNED_OUT to the one still subscribed") { freed.kinds.contains(.signedOut) }
            XCTAssertEqual(kept.kinds, [.initialSession, .signedIn], "nothing after cancel")
            await client.shutdown()
            try await eventually("the end, at shutdown") { freed.ended }
        }
    }

    func testEventsAsAnAsyncStreamStartWithInitialSessionAndStopWhenCancelled() async throws {
        try await withServer { server in
            let client = try await signedIn(server, MemoryStorage())
            let seen = Recorder()
            let stream = client.events()
            let consumer = Task {
                for await event in stream { seen.onEvent(event: event) }
                seen.onEnd()
            }
            try await eventually("INITIAL_SESSION") { !seen.events.isEmpty }
            XCTAssertEqual(seen.events[0].kind, .initialSession)
            XCTAssertNotNil(seen.events[0].session, "it carries the current session")
            _ = try await client.refreshSession()
            try await eventually("TOKEN_REFRESHED") { seen.events.count == 2 }
            XCTAssertEqual(seen.events[1].kind, .tokenRefreshed)
            consumer.cancel()
            try await eventually("the stream ends when its task is cancelled") { seen.ended }
            try await client.signOut(scope: .local)
            try await pause(ms: 150)
            XCTAssertEqual(seen.events.count, 2, "nothing after cancel")
            await client.shutdown()
        }
    }

    func testEventsReachAStreamForEveryCallMadeAfterItIsCreatedInOrder() async throws {
        try await withServer { server in
            let client = try AuthClient(options: options(server, autoRefresh: false), storage: MemoryStorage())
            let stream = client.events()
            try await client.initialize()
            guard let first = try await client.signInWithPassword(email: FakeServer.email, password: FakeServer.password),
                  let refreshed = try await client.refreshSession()
            else { throw TestFailure("no session") }
            try await client.signOut(scope: .local)
            await client.shutdown()
            // Consumed only now: the stream buffered every event, then finished at the shutdown.
            var seen: [AuthEvent] = []
            for await event in stream { seen.append(event) }
            XCTAssertEqual(seen.map { $0.kind }, [.initialSession, .signedIn, .tokenRefreshed, .signedOut])
            XCTAssertNil(seen[0].session)
            XCTAssertEqual(seen[1].session?.accessToken, first.accessToken)
            XCTAssertEqual(seen[2].session?.accessToken, refreshed.accessToken)
            XCTAssertEqual(seen[3].reason, .userSignOut)
        }
    }

    /// Two streams of one client, consumed concurrently while calls are made from other tasks,
    /// each see every event once, in the order the client announced them.
    func testConcurrentStreamsEachSeeEveryEventInOrder() async throws {
        try await withServer { server in
            let client = try await signedIn(server, MemoryStorage())
            let streams = [client.events(), client.events()]
            let consumers = streams.map { stream in
                Task { () -> [EventKind] in
                    var kinds: [EventKind] = []
                    for await event in stream { kinds.append(event.kind) }
                    return kinds
                }
            }
            for _ in 0..<3 { _ = try await client.refreshSession() }
            try await client.signOut(scope: .local)
            await client.shutdown()
            let expected: [EventKind] = [.initialSession, .tokenRefreshed, .tokenRefreshed, .tokenRefreshed, .signedOut]
            for consumer in consumers {
                let kinds = await consumer.value
                XCTAssertEqual(kinds, expected)
            }
        }
    }

    // MARK: - Errors, outages, platform signals, shutdown

    func testErrorsKeepTheHTTPStatusAndTheGoTrueErrorCode() async throws {
        try await withServer { server in
            let client = try AuthClient(options: options(server, autoRefresh: false), storage: MemoryStorage())
            try await client.initialize()
            let error = await expectAuthError("api") {
                try await client.signInWithPassword(email: FakeServer.email, password: "wrong")
            }
            XCTAssertEqual(error?.httpStatus, 400)
            XCTAssertEqual(error?.errorCode, "invalid_credentials")
            XCTAssertFalse(error?.isRetryable ?? true)
            await expectAuthError("session_missing") { try await client.getUser() }
            await expectAuthError("invalid_input") { try await client.setSession(accessToken: "not-a-jwt", refreshToken: "x") }
            await client.shutdown()
        }
    }

    func testATransientStormOf503sAnd429sKeepsTheSession() async throws {
        try await withServer { server in
            let storage = MemoryStorage()
            let client = try await signedIn(server, storage, via: .urlSession)
            let recorder = Recorder()
            _ = client.subscribe(listener: recorder)
            try await server.inject("refresh", ["kind": "server_error", "status": 503], count: 1000)
            let error = await expectAuthError("retryable_fetch") { try await client.refreshSession() }
            XCTAssertEqual(error?.httpStatus, 503)
            XCTAssertTrue(error?.isRetryable ?? false)
            try await server.clearFaults()
            try await server.inject("refresh", ["kind": "rate_limited"], count: 1000)
            try await pause(ms: 1_050) // past the cooldown
            await expectAuthError("retryable_fetch") { try await client.refreshSession() }
            XCTAssertNotNil(storage.get(key: storageKey))
            try await server.clearFaults()
            try await pause(ms: 1_050)
            let session = try await client.refreshSession()
            XCTAssertNotNil(session)
            XCTAssertFalse(recorder.kinds.contains(.signedOut))
            await client.shutdown()
        }
    }

    func testTheServerDownKeepsTheSessionAndRecoversLater() async throws {
        try await withServer { server in
            let storage = MemoryStorage()
            try await signedIn(server, storage).shutdown()
            try ageStoredSession(storage, seconds: -10)
            try await server.setDown(true)
            let client = try AuthClient(options: options(server, autoRefresh: true), storage: storage)
            let recorder = Recorder()
            _ = client.subscribe(listener: recorder)
            try await client.initialize()
            try await eventually("INITIAL_SESSION") { !recorder.events.isEmpty }
            let initial = recorder.events[0]
            XCTAssertEqual(initial.kind, .initialSession)
            XCTAssertTrue(initial.expired, "INITIAL_SESSION says the stored session is expired")
            XCTAssertNotNil(initial.session)
            await expectAuthError("retryable_fetch") { try await client.getSession() }
            XCTAssertNotNil(storage.get(key: storageKey))
            try await server.setDown(false)
            try await eventually("recovered", timeout: 10) { (try? await client.getSession()) != nil }
            XCTAssertFalse(recorder.kinds.contains(.signedOut))
            await client.shutdown()
        }
    }

    func testLifecycleReachabilityAndAutoRefreshSwitchesAreAcceptedAtAnyTime() async throws {
        try await withServer { server in
            let client = try await signedIn(server, MemoryStorage(), autoRefresh: true)
            client.setLifecycle(state: .background)
            client.setReachability(state: .offline)
            client.stopAutoRefresh()
            client.setReachability(state: .online)
            client.setLifecycle(state: .foreground)
            client.startAutoRefresh()
            client.storageChanged()
            let session = try await client.getSession()
            XCTAssertNotNil(session)
            XCTAssertEqual(client.storageKey(), storageKey)
            await client.shutdown()
        }
    }

    func testAShutDownClientFailsCallsWithInvalidInputAndFinishesItsStreams() async throws {
        try await withServer { server in
            let client = try await signedIn(server, MemoryStorage())
            let stream = client.events()
            let consumer = Recorder()
            let task = Task {
                for await event in stream { consumer.onEvent(event: event) }
                consumer.onEnd()
            }
            await client.shutdown()
            await expectAuthError("invalid_input") { try await client.getSession() }
            try await eventually("the stream finished") { consumer.ended }
            task.cancel()
        }
    }

    func testASessionInAFileStorageFolderSurvivesTheProcess() async throws {
        try await withServer { server in
            try await withTemporaryDirectory { dir in
                let folder = dir.appendingPathComponent("store")
                let first = try await signedIn(server, FileStorage(directory: folder))
                guard let session = await first.currentSession() else { throw TestFailure("no session") }
                await first.shutdown()
                let client = try AuthClient(options: options(server, autoRefresh: false), storage: FileStorage(directory: folder))
                try await client.initialize()
                let restored = await client.currentSession()
                XCTAssertEqual(restored?.accessToken, session.accessToken)
                let user = try await client.getUser()
                XCTAssertEqual(user.email, FakeServer.email)
                await client.shutdown()
            }
        }
    }

    // MARK: - Auto refresh on and off

    func testAutoRefreshOnRefreshesASessionNearExpiryWithoutACall() async throws {
        try await withServer { server in
            let storage = MemoryStorage()
            try await signedIn(server, storage).shutdown()
            try ageStoredSession(storage, seconds: 30) // inside the refresh margin
            let client = try AuthClient(options: options(server, autoRefresh: true), storage: storage)
            let recorder = Recorder()
            _ = client.subscribe(listener: recorder)
            let before = try await server.refreshRequests()
            try await client.initialize()
            try await eventually("a refresh by the client on its own") { recorder.kinds.contains(.tokenRefreshed) }
            let after = try await server.refreshRequests()
            XCTAssertEqual(after - before, 1)
            let stored = storage.get(key: storageKey)
            let current = await client.currentSession()
            XCTAssertTrue(stored?.contains(current?.refreshToken ?? "-") ?? false, "the rotated session is stored")
            await client.shutdown()
        }
    }

    func testAutoRefreshOffSendsNothingUntilTheAppAsks() async throws {
        try await withServer { server in
            let storage = MemoryStorage()
            try await signedIn(server, storage).shutdown()
            try ageStoredSession(storage, seconds: 30)
            let client = try AuthClient(options: options(server, autoRefresh: false), storage: storage)
            let recorder = Recorder()
            _ = client.subscribe(listener: recorder)
            let before = try await server.refreshRequests()
            try await client.initialize()
            try await pause(ms: 500)
            let idle = try await server.refreshRequests()
            XCTAssertEqual(idle - before, 0, "no background refresh")
            XCTAssertFalse(recorder.kinds.contains(.tokenRefreshed))
            // Asked for, the session near expiry is refreshed first.
            _ = try await client.getSession()
            let after = try await server.refreshRequests()
            XCTAssertEqual(after - before, 1)
            await client.shutdown()
        }
    }

    // MARK: - Sign-out during a refresh

    /// A local sign-out while a refresh is on the wire wins: the refresh's caller gets
    /// `refresh_discarded`, and the late answer, a success, never brings the session back.
    func testASignOutDuringARefreshWinsAndTheLateAnswerIsDiscarded() async throws {
        try await withServer { server in
            let storage = MemoryStorage()
            let client = try await signedIn(server, storage, via: .urlSession)
            let recorder = Recorder()
            _ = client.subscribe(listener: recorder)
            try await server.inject("refresh", ["kind": "latency", "ms": 1_000])
            // The logout request (best effort for a local sign-out) fails, so the server still
            // has the session when it answers the refresh: the late answer is a success.
            try await server.inject("logout", ["kind": "server_error", "status": 503])
            let refresh = Task { try await client.refreshSession() }
            try await eventually("the refresh is on the wire") { try await server.refreshRequests() == 1 }
            try await client.signOut(scope: .local)
            XCTAssertNil(storage.get(key: storageKey), "removed at once")
            do {
                _ = try await refresh.value
                XCTFail("the refresh's result must not come back after the sign-out")
            } catch let error as AuthError {
                XCTAssertEqual(error.kind, "refresh_discarded", "\(error)")
            }
            try await pause(ms: 100)
            XCTAssertNil(storage.get(key: storageKey), "the late answer was not stored")
            let current = await client.currentSession()
            XCTAssertNil(current)
            let session = try await client.getSession()
            XCTAssertNil(session)
            XCTAssertEqual(recorder.kinds.filter { $0 == .signedOut }.count, 1)
            XCTAssertFalse(recorder.kinds.contains(.tokenRefreshed), "\(recorder.kinds)")
            await client.shutdown()
        }
    }

    // MARK: - Cancelling a task that waits on a call

    /// `cancellable`: the cancelled task stops waiting at once, while the refresh it started
    /// lands, is stored and announced, so the client ends up where an uncancelled call leaves it.
    func testCancellingATaskWaitingOnACancellableCallEndsItAndTheRefreshStillLands() async throws {
        try await withServer { server in
            let storage = MemoryStorage()
            let client = try await signedIn(server, storage)
            let recorder = Recorder()
            _ = client.subscribe(listener: recorder)
            guard let before = await client.currentSession() else { throw TestFailure("no session") }
            try await server.inject("refresh", ["kind": "latency", "ms": 1_500])
            let waiter = Task { try await client.cancellable { try await $0.refreshSession() } }
            try await eventually("the refresh is on the wire") { try await server.refreshRequests() == 1 }
            let cancelledAt = Date()
            waiter.cancel()
            do {
                _ = try await waiter.value
                XCTFail("a cancelled wait must throw")
            } catch is CancellationError {
                XCTAssertLessThan(Date().timeIntervalSince(cancelledAt), 1.0, "the wait ended before the answer came")
            }
            XCTAssertFalse(recorder.kinds.contains(.tokenRefreshed), "the answer has not come yet")
            // The operation itself went on: one rotation, stored, announced, no sign-out.
            try await eventually("TOKEN_REFRESHED") { recorder.kinds.contains(.tokenRefreshed) }
            guard let after = await client.currentSession() else { throw TestFailure("no session after the refresh") }
            XCTAssertNotEqual(after.refreshToken, before.refreshToken)
            XCTAssertTrue(storage.get(key: storageKey)?.contains(after.refreshToken) ?? false)
            let session = try await client.getSession()
            XCTAssertEqual(session?.accessToken, after.accessToken)
            let refreshes = try await server.refreshRequests()
            XCTAssertEqual(refreshes, 1)
            XCTAssertFalse(recorder.kinds.contains(.signedOut))
            // A task cancelled before the call starts nothing.
            let early = Task {
                withUnsafeCurrentTask { $0?.cancel() }
                return try await client.cancellable { try await $0.refreshSession() }
            }
            await XCTAssertThrowsCancellation { _ = try await early.value }
            try await pause(ms: 100)
            let still = try await server.refreshRequests()
            XCTAssertEqual(still, 1, "nothing was sent for the task cancelled before the call")
            await client.shutdown()
        }
    }

    /// The generated methods do not observe cancellation (UniFFI's Swift bindings never cancel
    /// the Rust call): a cancelled task waits for the answer and gets it, and the machine is in
    /// the state the call left it in.
    func testCancellingATaskWaitingOnAGeneratedCallLetsTheCallFinish() async throws {
        try await withServer { server in
            let storage = MemoryStorage()
            let client = try await signedIn(server, storage)
            try await server.inject("refresh", ["kind": "latency", "ms": 500])
            let waiter = Task { try await client.refreshSession() }
            try await eventually("the refresh is on the wire") { try await server.refreshRequests() == 1 }
            waiter.cancel()
            let rotated = try await waiter.value
            let current = await client.currentSession()
            XCTAssertEqual(current?.refreshToken, rotated?.refreshToken)
            XCTAssertTrue(storage.get(key: storageKey)?.contains(rotated?.refreshToken ?? "-") ?? false)
            let user = try await client.getUser()
            XCTAssertEqual(user.email, FakeServer.email)
            await client.shutdown()
        }
    }
}
