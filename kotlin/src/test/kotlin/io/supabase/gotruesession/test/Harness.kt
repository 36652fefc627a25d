package io.supabase.gotruesession.test

import kotlinx.coroutines.TimeoutCancellationException
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import java.io.File

/**
 * A tiny test runner: plain `main()` programs, no JUnit. Each test runs with a deadline; the run
 * prints one line per test and ends with `N passed, N failed` on its own line.
 */
class TestRun {
    private class Case(val name: String, val timeoutMs: Long, val body: suspend () -> Unit)

    private val cases = mutableListOf<Case>()
    var passed = 0
        private set
    var failed = 0
        private set

    fun test(
        name: String,
        timeoutMs: Long = 30_000,
        body: suspend () -> Unit,
    ) {
        cases += Case(name, timeoutMs, body)
    }

    fun runAll(filter: String?) {
        for (c in cases) {
            if (filter != null && !c.name.contains(filter)) continue
            val started = System.nanoTime()
            val error: Throwable? =
                try {
                    runBlocking { withTimeout(c.timeoutMs) { c.body() } }
                    null
                } catch (e: TimeoutCancellationException) {
                    AssertionError("timed out after ${c.timeoutMs} ms")
                } catch (e: Throwable) {
                    e
                }
            val ms = (System.nanoTime() - started) / 1_000_000
            if (error == null) {
                passed++
                println("ok   ${c.name} ($ms ms)")
            } else {
                failed++
                println("FAIL ${c.name} ($ms ms): ${error.javaClass.simpleName}: ${error.message}")
                error.stackTrace.take(6).forEach { println("       at $it") }
            }
        }
    }
}

/** Paths handed over by kotlin/run-tests.sh. */
object Env {
    val cli: String = System.getProperty("gotrue.cli") ?: error("-Dgotrue.cli=.../gotrue-session is not set")
    val scenarios: File = File(System.getProperty("gotrue.scenarios") ?: error("-Dgotrue.scenarios is not set"))
}

/** Waits until [check] holds, polling, for at most [timeoutMs]. */
suspend fun eventually(
    what: String,
    timeoutMs: Long = 15_000,
    check: suspend () -> Boolean,
) {
    val deadline = System.currentTimeMillis() + timeoutMs
    while (!check()) {
        if (System.currentTimeMillis() > deadline) throw AssertionError("not within $timeoutMs ms: $what")
        kotlinx.coroutines.delay(10)
    }
}

/**
 * Runs [body]; when it fails, the failure carries [context] too (what the client saw and what
 * the server received), so a failure on a CI machine explains itself.
 */
suspend fun <T> explained(
    context: suspend () -> String,
    body: suspend () -> T,
): T =
    try {
        body()
    } catch (e: AssertionError) {
        val more = runCatching { context() }.getOrElse { "(no context: $it)" }
        throw AssertionError("${e.message}\n$more", e)
    }
