package io.supabase.gotruesession.test

import io.supabase.gotruesession.AuthClient
import io.supabase.gotruesession.AuthException
import io.supabase.gotruesession.ClientOptions
import io.supabase.gotruesession.EventKind
import io.supabase.gotruesession.HttpRequest
import io.supabase.gotruesession.HttpResponse
import io.supabase.gotruesession.HttpTransport
import io.supabase.gotruesession.MachineConfig
import io.supabase.gotruesession.MemorySessionStorage
import io.supabase.gotruesession.NameValue
import io.supabase.gotruesession.SessionMachine
import io.supabase.gotruesession.errorCode
import io.supabase.gotruesession.httpStatus
import io.supabase.gotruesession.isRetryable
import io.supabase.gotruesession.kind
import java.util.Base64
import java.util.concurrent.CopyOnWriteArrayList
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertNotNull
import kotlin.test.assertTrue

/** A JWT for `user-1`'s session `sess-1` that expires in 2100 (nobody checks the signature here). */
private fun jwt(ref: String): String {
    fun b64(s: String) = Base64.getUrlEncoder().withoutPadding().encodeToString(s.toByteArray())
    val claims = """{"sub":"user-1","aud":"authenticated","role":"authenticated","exp":4102444800,"session_id":"sess-1","ref":"$ref"}"""
    return "${b64("""{"alg":"HS256","typ":"JWT"}""")}.${b64(claims)}.c2ln"
}

/** The session JSON GoTrue answers (and the client stores) for tokens `ref`. */
private fun sessionJson(ref: String): String =
    Json.write(
        linkedMapOf(
            "access_token" to jwt(ref),
            "token_type" to "bearer",
            "expires_in" to 3600,
            "expires_at" to 4_102_444_800L,
            "refresh_token" to "rt-$ref",
            "user" to linkedMapOf("id" to "user-1", "aud" to "authenticated", "role" to "authenticated"),
        ),
    )

/**
 * A server whose `/user` doubts every token (a read replica that never catches up) while its
 * refresh endpoint, on the primary, accepts every refresh: the session is alive, `/user` cannot
 * confirm it. Scripted in memory, so these tests need no fake server.
 */
private class DoubtingServer : HttpTransport {
    val paths = CopyOnWriteArrayList<String>()
    private var refreshes = 0

    override fun send(request: HttpRequest): HttpResponse {
        paths += request.path
        val version = NameValue("x-supabase-api-version", "2024-01-01")
        return when (request.path) {
            "/user" -> {
                val body = """{"code":"session_not_found","message":"Session from session_id claim in JWT does not exist"}"""
                HttpResponse(403u, listOf(version), body.toByteArray())
            }
            "/token" -> {
                refreshes++
                HttpResponse(200u, listOf(version), sessionJson("r$refreshes").toByteArray())
            }
            else -> HttpResponse(404u, listOf(version), """{"code":"not_found","message":"no route"}""".toByteArray())
        }
    }
}

private fun doubtedOptions(verifyCooldownMs: Long? = null) =
    ClientOptions(
        url = "http://127.0.0.1:9/auth/v1",
        anonKey = "anon",
        storageKey = KEY,
        autoRefresh = false,
        jitter = false,
        verifyCooldownMs = verifyCooldownMs,
    )

/** A machine config that is valid but for [verifyCooldownMs]. */
private fun machineConfig(verifyCooldownMs: Long?) =
    MachineConfig(storageKey = KEY, apiKey = "anon", authUrl = "http://x/auth/v1", verifyCooldownMs = verifyCooldownMs)

fun registerVerifyTests(t: TestRun) {
    t.test("a suspicion after a successful verify refresh is SessionUnconfirmed: retryable, session kept, no SIGNED_OUT") {
        val storage = MemorySessionStorage()
        storage.set(KEY, sessionJson("a"))
        val server = DoubtingServer()
        AuthClient(doubtedOptions(), storage, server).use { c ->
            val recorder = Recorder()
            c.subscribe(recorder)
            c.initialize()
            val err = assertFailsWith<AuthException.SessionUnconfirmed> { c.getUser() }
            assertEquals("session_unconfirmed", err.kind)
            assertEquals(403, err.httpStatus)
            assertEquals("session_not_found", err.errorCode)
            assertTrue(err.isRetryable, "session_unconfirmed is retryable")
            assertEquals(listOf("/user", "/token", "/user"), server.paths.toList(), "verified once, /user retried once")
            assertEquals("rt-r1", assertNotNull(c.currentSession(), "the session is kept").refreshToken)
            assertTrue(assertNotNull(storage.get(KEY)).contains("rt-r1"), "the refreshed session is stored")

            // Within the cooldown (30 s by default) the next suspicion is answered at once, unverified.
            assertFailsWith<AuthException.SessionUnconfirmed> { c.getUser() }
            assertEquals(listOf("/user", "/token", "/user", "/user"), server.paths.toList(), "no second refresh")
            c.shutdown()
            eventually("the end of the event delivery") { recorder.ended }
            assertEquals(listOf(EventKind.INITIAL_SESSION, EventKind.TOKEN_REFRESHED), recorder.kinds())
        }
    }

    t.test("verifyCooldownMs = 0 verifies every suspicion; the session is still kept") {
        val storage = MemorySessionStorage()
        storage.set(KEY, sessionJson("a"))
        val server = DoubtingServer()
        AuthClient(doubtedOptions(verifyCooldownMs = 0), storage, server).use { c ->
            c.initialize()
            assertFailsWith<AuthException.SessionUnconfirmed> { c.getUser() }
            assertFailsWith<AuthException.SessionUnconfirmed> { c.getUser() }
            assertEquals(listOf("/user", "/token", "/user", "/user", "/token", "/user"), server.paths.toList())
            assertEquals("rt-r2", assertNotNull(c.currentSession()).refreshToken)
            c.shutdown()
        }
    }

    t.test("verifyCooldownMs out of range fails construction with InvalidInput, saying why") {
        for (ms in listOf(-1L, 600_001L, Long.MIN_VALUE, Long.MAX_VALUE)) {
            val client = assertFailsWith<AuthException.InvalidInput>("client, $ms ms") {
                AuthClient(doubtedOptions(ms), MemorySessionStorage(), DoubtingServer()).close()
            }
            assertTrue(client.detail.contains("verify_cooldown must be between 0"), client.detail)
            val machine = assertFailsWith<AuthException.InvalidInput>("machine, $ms ms") {
                SessionMachine(machineConfig(ms)).close()
            }
            assertTrue(machine.detail.contains("$ms ms"), machine.detail)
        }
        for (ms in listOf(null, 0L, 600_000L)) {
            AuthClient(doubtedOptions(ms), MemorySessionStorage(), DoubtingServer()).use { it.shutdown() }
            SessionMachine(machineConfig(ms)).close()
        }
    }
}
