package io.supabase.gotruesession.test

import io.supabase.gotruesession.AuthClient
import io.supabase.gotruesession.AuthEvent
import io.supabase.gotruesession.AuthEventListener
import io.supabase.gotruesession.AuthException
import io.supabase.gotruesession.ClientOptions
import io.supabase.gotruesession.DiagnosticKind
import io.supabase.gotruesession.EventKind
import io.supabase.gotruesession.FileSessionStorage
import io.supabase.gotruesession.HttpTransport
import io.supabase.gotruesession.HttpUrlConnectionTransport
import io.supabase.gotruesession.Lifecycle
import io.supabase.gotruesession.MemorySessionStorage
import io.supabase.gotruesession.Reachability
import io.supabase.gotruesession.RemovalReason
import io.supabase.gotruesession.RetryPolicy
import io.supabase.gotruesession.SessionStorage
import io.supabase.gotruesession.SignOutScope
import io.supabase.gotruesession.StorageException
import io.supabase.gotruesession.errorCode
import io.supabase.gotruesession.events
import io.supabase.gotruesession.httpStatus
import io.supabase.gotruesession.kind
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.delay
import kotlinx.coroutines.launch
import java.io.File
import java.nio.file.Files
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.atomic.AtomicInteger
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue

const val KEY = "sb-kotlin-auth-token"

/** Client options for [server]: a short retry schedule so bursts end within a second, no jitter. */
fun options(
    server: FakeServer,
    autoRefresh: Boolean,
) = ClientOptions(
    url = server.url,
    anonKey = server.anonKey,
    storageKey = KEY,
    autoRefresh = autoRefresh,
    jitter = false,
    requestTimeoutMs = 5_000u,
    retry = RetryPolicy(baseDelayMs = 20u, burstWindowMs = 300u, cooldownMs = 1_000u),
)

/** The two transports every founding-case test runs with. */
enum class Via(val make: () -> HttpTransport?) {
    BUILT_IN({ null }),
    HTTP_URL_CONNECTION({ HttpUrlConnectionTransport(connectTimeoutMs = 5_000, readTimeoutMs = 5_000) }),
}

/** Events of a client, recorded from a listener registered before anything else happens. */
class Recorder : AuthEventListener {
    val events = CopyOnWriteArrayList<AuthEvent>()

    @Volatile var ended = false

    override fun onEvent(event: AuthEvent) {
        events += event
    }

    override fun onEnd() {
        ended = true
    }

    fun kinds() = events.map { it.kind }
}

/** A store that fails on demand (a full disk, a locked keychain), or throws what it did not declare. */
class FlakyStorage(private val inner: SessionStorage = MemorySessionStorage()) : SessionStorage {
    val failReads = AtomicInteger()
    val failWrites = AtomicInteger()
    val throwUndeclared = AtomicInteger()

    private fun take(counter: AtomicInteger) = counter.getAndUpdate { if (it > 0) it - 1 else 0 } > 0

    override fun get(key: String): String? {
        if (take(throwUndeclared)) throw IllegalStateException("a bug in the app's store")
        if (take(failReads)) throw StorageException.Unavailable("injected read failure")
        return inner.get(key)
    }

    override fun set(
        key: String,
        value: String,
    ) {
        if (take(failWrites)) throw StorageException.Unavailable("injected write failure")
        inner.set(key, value)
    }

    override fun remove(key: String) = inner.remove(key)
}

suspend fun signedIn(
    server: FakeServer,
    storage: SessionStorage,
    autoRefresh: Boolean = false,
    via: Via = Via.BUILT_IN,
): AuthClient {
    val c = AuthClient(options(server, autoRefresh), storage, via.make())
    c.initialize()
    assertNotNull(c.signInWithPassword(FakeServer.EMAIL, FakeServer.PASSWORD), "a session")
    return c
}

/** Rewrites the stored session's `expires_at` to now + [secs], as if time had passed. */
fun ageStoredSession(
    storage: SessionStorage,
    secs: Long,
) {
    @Suppress("UNCHECKED_CAST")
    val v = Json.parse(assertNotNull(storage.get(KEY), "a stored session")) as MutableMap<String, Any?>
    v["expires_at"] = System.currentTimeMillis() / 1000 + secs
    storage.set(KEY, Json.write(v))
}

suspend fun <T> withServer(body: suspend (FakeServer) -> T): T = FakeServer.start().use { body(it) }

fun registerClientTests(t: TestRun) {
    for (via in Via.values()) {
        for (auto in listOf(false, true)) {
            val tag = "${via.name.lowercase()}, auto refresh ${if (auto) "on" else "off"}"
            t.test("founding case, transient: a lagging replica's session_not_found is survived ($tag)") {
                withServer { server -> replicaLagSurvives(server, auto, via) }
            }
            t.test("founding case, real: a revoked session is removed once, with SIGNED_OUT ($tag)") {
                withServer { server -> revocationCleansUp(server, auto, via) }
            }
        }
    }

    t.test("100 concurrent getSession coroutines on an expiring session make one refresh") {
        withServer { server ->
            val storage = MemorySessionStorage()
            signedIn(server, storage).apply {
                shutdown()
                close()
            }
            ageStoredSession(storage, 30)
            AuthClient(options(server, false), storage).use { c ->
                c.initialize()
                val before = server.refreshRequests()
                val tokens =
                    coroutineScope {
                        (1..100).map { async(Dispatchers.Default) { assertNotNull(c.getSession()).accessToken } }.awaitAll()
                    }
                assertEquals(1, server.refreshRequests() - before, "exactly one refresh")
                assertEquals(1, tokens.toSet().size, "every caller got the same session")
                c.shutdown()
            }
        }
    }

    t.test("20 concurrent refreshSession coroutines during a slow refresh share one request") {
        withServer { server ->
            val storage = MemorySessionStorage()
            signedIn(server, storage, via = Via.HTTP_URL_CONNECTION).use { c ->
                val recorder = Recorder()
                c.subscribe(recorder)
                server.inject("refresh", mapOf("kind" to "latency", "ms" to 1_500))
                val before = server.refreshRequests()
                val tokens =
                    coroutineScope {
                        (1..20).map { async(Dispatchers.Default) { assertNotNull(c.refreshSession()).refreshToken } }.awaitAll()
                    }
                assertEquals(1, server.refreshRequests() - before, "one refresh request")
                assertEquals(1, tokens.toSet().size, "one rotation")
                eventually("TOKEN_REFRESHED") { EventKind.TOKEN_REFRESHED in recorder.kinds() }
                assertEquals(1, recorder.kinds().count { it == EventKind.TOKEN_REFRESHED })
                c.shutdown()
            }
        }
    }

    t.test("sign-out (local) removes the session everywhere on this device, once") {
        withServer { server ->
            val storage = MemorySessionStorage()
            signedIn(server, storage).use { c ->
                val recorder = Recorder()
                c.subscribe(recorder)
                eventually("INITIAL_SESSION for the late subscriber") { recorder.events.isNotEmpty() }
                c.signOut(SignOutScope.LOCAL)
                assertNull(storage.get(KEY), "storage is empty")
                assertNull(c.currentSession())
                assertNull(c.getSession())
                assertFailsWith<AuthException.SessionMissing> { c.getUser() }
                eventually("SIGNED_OUT") { EventKind.SIGNED_OUT in recorder.kinds() }
                val out = recorder.events.single { it.kind == EventKind.SIGNED_OUT }
                assertEquals(RemovalReason.USER_SIGN_OUT, out.reason)
                assertNull(out.session)
                // The logout request is best effort, sent after the local removal.
                eventually("the server's session is gone too") { server.sessions().isEmpty() }
                c.shutdown()
            }
        }
    }

    t.test("sign-out (global) revokes every session of the user") {
        withServer { server ->
            signedIn(server, MemorySessionStorage()).use { other ->
                signedIn(server, MemorySessionStorage(), via = Via.HTTP_URL_CONNECTION).use { c ->
                    assertEquals(2, server.sessions().size)
                    c.signOut(SignOutScope.GLOBAL)
                    assertEquals(0, server.sessions().size)
                    val err = assertFailsWith<AuthException.SessionMissing> { other.getUser() }
                    assertEquals(403, err.httpStatus)
                    c.shutdown()
                }
                other.shutdown()
            }
        }
    }

    t.test("sign-out (local) works with the server down") {
        withServer { server ->
            val storage = MemorySessionStorage()
            signedIn(server, storage).use { c ->
                server.setDown(true)
                c.signOut(SignOutScope.LOCAL)
                assertNull(storage.get(KEY))
                assertNull(c.currentSession())
                c.shutdown()
            }
        }
    }

    t.test("a store that cannot be read at launch decides nothing; the next call reads again") {
        withServer { server ->
            val storage = FlakyStorage()
            signedIn(server, storage).apply {
                shutdown()
                close()
            }
            val stored = storage.get(KEY)
            storage.failReads.set(1)
            AuthClient(options(server, false), storage).use { c ->
                val recorder = Recorder()
                c.subscribe(recorder)
                val err = assertFailsWith<AuthException.Storage> { c.initialize() }
                assertEquals("storage", err.kind)
                assertNotNull(c.getSession(), "the session is found on the next read")
                assertEquals(stored, storage.get(KEY), "nothing was removed or rewritten")
                eventually("INITIAL_SESSION") { recorder.events.isNotEmpty() }
                delay(100)
                assertTrue(EventKind.SIGNED_OUT !in recorder.kinds())
                assertEquals(listOf(EventKind.INITIAL_SESSION), recorder.kinds().distinct())
                c.shutdown()
            }
        }
    }

    t.test("a failed write of a refreshed session keeps it in memory and is retried") {
        withServer { server ->
            val storage = FlakyStorage()
            signedIn(server, storage).use { c ->
                storage.failWrites.set(1)
                val rotated = assertNotNull(c.refreshSession())
                assertEquals(rotated.refreshToken, c.currentSession()?.refreshToken, "kept in memory")
                assertEquals(rotated.accessToken, c.getSession()?.accessToken)
                eventually("the write is retried") { storage.get(KEY)?.contains(rotated.refreshToken) == true }
                assertTrue(c.diagnostics().any { it.kind == DiagnosticKind.STORAGE_WRITE_FAILED })
                c.shutdown()
            }
        }
    }

    t.test("a store that throws an undeclared exception is 'unavailable', never 'absent'") {
        withServer { server ->
            val storage = FlakyStorage()
            signedIn(server, storage).apply {
                shutdown()
                close()
            }
            storage.throwUndeclared.set(1)
            AuthClient(options(server, false), storage).use { c ->
                assertFailsWith<AuthException.Storage> { c.initialize() }
                assertNotNull(c.getSession())
                assertNotNull(storage.get(KEY))
                c.shutdown()
            }
        }
    }

    t.test("events arrive in order: INITIAL_SESSION, SIGNED_IN, TOKEN_REFRESHED, SIGNED_OUT") {
        withServer { server ->
            AuthClient(options(server, false), MemorySessionStorage(), HttpUrlConnectionTransport()).use { c ->
                val recorder = Recorder()
                c.subscribe(recorder)
                c.initialize()
                val signedIn = assertNotNull(c.signInWithPassword(FakeServer.EMAIL, FakeServer.PASSWORD))
                val refreshed = assertNotNull(c.refreshSession())
                c.signOut(SignOutScope.LOCAL)
                val expected = listOf(EventKind.INITIAL_SESSION, EventKind.SIGNED_IN, EventKind.TOKEN_REFRESHED, EventKind.SIGNED_OUT)
                eventually("four events") { recorder.events.size >= 4 }
                delay(100)
                assertEquals(expected, recorder.kinds())
                assertNull(recorder.events[0].session)
                assertEquals(signedIn.accessToken, recorder.events[1].session?.accessToken)
                assertEquals(refreshed.accessToken, recorder.events[2].session?.accessToken)
                assertNull(recorder.events[3].session)
                c.shutdown()
            }
        }
    }

    t.test("a subscription object freed by the app (or its GC) keeps delivering; cancel() ends it") {
        withServer { server ->
            AuthClient(options(server, false), MemorySessionStorage(), HttpUrlConnectionTransport()).use { c ->
                val kept = Recorder()
                val freed = Recorder()
                val subscription = c.subscribe(kept)
                // What the garbage collector does to a subscription nobody holds, done now.
                c.subscribe(freed).destroy()
                c.initialize()
                assertNotNull(c.signInWithPassword(FakeServer.EMAIL, FakeServer.PASSWORD))
                val expected = listOf(EventKind.INITIAL_SESSION, EventKind.SIGNED_IN)
                eventually("both listeners hear both events") { kept.events.size >= 2 && freed.events.size >= 2 }
                assertEquals(expected, freed.kinds())
                assertTrue(!freed.ended, "delivery goes on")
                subscription.cancel()
                eventually("the cancelled listener's end") { kept.ended }
                c.signOut(SignOutScope.LOCAL)
                eventually("SIGNED_OUT to the one still subscribed") { EventKind.SIGNED_OUT in freed.kinds() }
                assertEquals(expected, kept.kinds(), "nothing after cancel")
                c.shutdown()
                eventually("the end, at shutdown") { freed.ended }
            }
        }
    }

    t.test("events as a Flow: a late collector starts with INITIAL_SESSION; cancelling stops it") {
        withServer { server ->
            val storage = MemorySessionStorage()
            signedIn(server, storage).use { c ->
                val seen = CopyOnWriteArrayList<AuthEvent>()
                coroutineScope {
                    val job = launch(Dispatchers.Default) { c.events().collect { seen += it } }
                    eventually("INITIAL_SESSION") { seen.isNotEmpty() }
                    assertEquals(EventKind.INITIAL_SESSION, seen[0].kind)
                    assertNotNull(seen[0].session, "it carries the current session")
                    c.refreshSession()
                    eventually("TOKEN_REFRESHED") { seen.size == 2 }
                    assertEquals(EventKind.TOKEN_REFRESHED, seen[1].kind)
                    job.cancel()
                    job.join()
                    c.signOut(SignOutScope.LOCAL)
                    delay(150)
                    assertEquals(2, seen.size, "nothing after cancel")
                }
                c.shutdown()
            }
        }
    }

    t.test("errors keep the HTTP status and the GoTrue error code") {
        withServer { server ->
            AuthClient(options(server, false), MemorySessionStorage()).use { c ->
                c.initialize()
                val err = assertFailsWith<AuthException.Api> { c.signInWithPassword(FakeServer.EMAIL, "wrong") }
                assertEquals(400, err.httpStatus)
                assertEquals("invalid_credentials", err.errorCode)
                assertFailsWith<AuthException.SessionMissing> { c.getUser() }
                assertFailsWith<AuthException.InvalidInput> { c.setSession("not-a-jwt", "x") }
                c.shutdown()
            }
        }
    }

    t.test("a transient storm of 503s and 429s keeps the session; the refresh works after it") {
        withServer { server ->
            val storage = MemorySessionStorage()
            signedIn(server, storage, via = Via.HTTP_URL_CONNECTION).use { c ->
                val recorder = Recorder()
                c.subscribe(recorder)
                server.inject("refresh", mapOf("kind" to "server_error", "status" to 503), 1000)
                val err = assertFailsWith<AuthException.RetryableFetch> { c.refreshSession() }
                assertEquals(503, err.httpStatus)
                server.clearFaults()
                server.inject("refresh", mapOf("kind" to "rate_limited"), 1000)
                delay(1_300) // past the cooldown (1 s)
                assertFailsWith<AuthException.RetryableFetch> { c.refreshSession() }
                assertNotNull(storage.get(KEY))
                server.clearFaults()
                delay(1_300)
                assertNotNull(c.refreshSession())
                assertTrue(EventKind.SIGNED_OUT !in recorder.kinds())
                c.shutdown()
            }
        }
    }

    t.test("the server down: getSession fails retryable, the session is kept, and recovered later") {
        withServer { server ->
            val storage = MemorySessionStorage()
            signedIn(server, storage).apply {
                shutdown()
                close()
            }
            ageStoredSession(storage, -10)
            server.setDown(true)
            AuthClient(options(server, true), storage).use { c ->
                val recorder = Recorder()
                c.subscribe(recorder)
                c.initialize()
                eventually("INITIAL_SESSION") { recorder.events.isNotEmpty() }
                val initial = recorder.events.first()
                assertEquals(EventKind.INITIAL_SESSION, initial.kind)
                assertTrue(initial.expired, "INITIAL_SESSION says the stored session is expired")
                assertNotNull(initial.session)
                assertFailsWith<AuthException.RetryableFetch> { c.getSession() }
                assertNotNull(storage.get(KEY))
                server.setDown(false)
                eventually("recovered") { runCatching { c.getSession() }.getOrNull() != null }
                assertTrue(EventKind.SIGNED_OUT !in recorder.kinds())
                c.shutdown()
            }
        }
    }

    t.test("lifecycle, reachability and auto refresh switches are accepted at any time") {
        withServer { server ->
            signedIn(server, MemorySessionStorage(), autoRefresh = true).use { c ->
                c.setLifecycle(Lifecycle.BACKGROUND)
                c.setReachability(Reachability.OFFLINE)
                c.stopAutoRefresh()
                c.setReachability(Reachability.ONLINE)
                c.setLifecycle(Lifecycle.FOREGROUND)
                c.startAutoRefresh()
                c.storageChanged()
                assertNotNull(c.getSession())
                assertEquals(KEY, c.storageKey())
                c.shutdown()
            }
        }
    }

    t.test("a shut-down client fails calls with InvalidInput and ends its event flows") {
        withServer { server ->
            val c = signedIn(server, MemorySessionStorage())
            val done = Job()
            CoroutineScope(Dispatchers.Default).launch {
                c.events().collect {}
                done.complete()
            }
            c.shutdown()
            assertFailsWith<AuthException.InvalidInput> { c.getSession() }
            done.join()
            c.close()
        }
    }

    t.test("a session in a FileSessionStorage folder survives the process (a second client restores it)") {
        withServer { server ->
            val dir = Files.createTempDirectory("gotrue-kotlin").toFile()
            try {
                val first = signedIn(server, FileSessionStorage(File(dir, "store")))
                val session = assertNotNull(first.currentSession())
                first.shutdown()
                first.close()
                AuthClient(options(server, false), FileSessionStorage(File(dir, "store"))).use { c ->
                    c.initialize()
                    assertEquals(session.accessToken, c.currentSession()?.accessToken)
                    assertEquals(FakeServer.EMAIL, c.getUser().email)
                    c.shutdown()
                }
            } finally {
                dir.deleteRecursively()
            }
        }
    }
}

private suspend fun replicaLagSurvives(
    server: FakeServer,
    auto: Boolean,
    via: Via,
) {
    // The replica misses a new session on its first read (a lag counted in reads, so a slow machine
    // cannot make the read come after it); the verification refresh goes to the primary, and the
    // /user retried with its token finds the session.
    server.setReplicaLag(misses = 1, afterCreate = true, afterRefresh = false)
    val storage = MemorySessionStorage()
    signedIn(server, storage, auto, via).use { c ->
        val recorder = Recorder()
        c.subscribe(recorder)
        explained({ story(recorder, c, server) }) {
            val user = c.getUser()
            assertEquals(FakeServer.EMAIL, user.email)
            eventually("TOKEN_REFRESHED") { EventKind.TOKEN_REFRESHED in recorder.kinds() }
            delay(100)
            assertTrue(EventKind.SIGNED_OUT !in recorder.kinds(), "${recorder.kinds()}")
            assertNotNull(storage.get(KEY), "the session is still stored")
            assertEquals(1, server.refreshRequests())
        }
        c.shutdown()
    }
}

private suspend fun revocationCleansUp(
    server: FakeServer,
    auto: Boolean,
    via: Via,
) {
    val storage = MemorySessionStorage()
    signedIn(server, storage, auto, via).use { c ->
        val recorder = Recorder()
        c.subscribe(recorder)
        explained({ story(recorder, c, server) }) {
            assertEquals(1, server.revokeUserSessions())
            val err = assertFailsWith<AuthException.SessionMissing> { c.getUser() }
            assertEquals(403, err.httpStatus)
            eventually("SIGNED_OUT") { EventKind.SIGNED_OUT in recorder.kinds() }
            delay(100)
            assertEquals(1, recorder.kinds().count { it == EventKind.SIGNED_OUT }, "${recorder.kinds()}")
            assertEquals(RemovalReason.VERIFIED_REVOCATION, recorder.events.last().reason)
            assertNull(storage.get(KEY), "storage is empty")
            assertNull(c.currentSession())
        }
        c.shutdown()
    }
}

/** What a founding-case test saw, for its failure message: events, diagnostics, server log. */
private suspend fun story(
    recorder: Recorder,
    c: AuthClient,
    server: FakeServer,
): String =
    buildString {
        append("events: ${recorder.kinds()}\n")
        append("diagnostics:\n")
        c.diagnostics().forEach { append("  $it\n") }
        append("server requests:\n")
        server.requestLog().lines().forEach { append("  $it\n") }
    }
