// The cost of crossing UniFFI + JNA from Kotlin for the steps core/benches/core.rs times in Rust
// (group "step") and benchmarks/ffi/step.c times from C, on the same machine state:
//   trivial     storageInSync() / pollTimeout(): no input, no output
//   empty step  handleTimeout with nothing due: a MachineStep with no outputs
//   step        handleCommand(GetSession) on a memory-only machine holding the session with the
//               1.5 KB user: a MachineStep with one Complete output carrying the session, lifted
// Each figure is the median of 7 runs of N calls after a warm-up of 2 N (the JIT), in ns per call.
//
//   benchmarks/ffi/run    (generates the bindings, compiles this with kotlinc, runs it on the JVM)
package io.supabase.gotruesession.bench

import io.supabase.gotruesession.Command
import io.supabase.gotruesession.HttpResponse
import io.supabase.gotruesession.MachineConfig
import io.supabase.gotruesession.MachineOutput
import io.supabase.gotruesession.NameValue
import io.supabase.gotruesession.OpOutcome
import io.supabase.gotruesession.OpValue
import io.supabase.gotruesession.SessionMachine
import java.io.File

private const val NOW: ULong = 1767225601000uL
private const val RUNS = 7

private var sink = 0

private fun bench(name: String, n: Int, op: () -> Int) {
    repeat(2 * n) { sink += op() }
    val perCall = DoubleArray(RUNS) {
        val t0 = System.nanoTime()
        repeat(n) { sink += op() }
        (System.nanoTime() - t0).toDouble() / n
    }
    perCall.sort()
    println("kotlin/%-32s %10.1f ns/call  (median of %d runs of %d)".format(name, perCall[RUNS / 2], RUNS, n))
}

fun main(args: Array<String>) {
    val answer = File(args[0]).readText().trimEnd().toByteArray()
    val n = args.getOrNull(1)?.toInt() ?: 20_000
    val config = MachineConfig(
        storageKey = "sb-test-auth-token",
        apiKey = "anon-key",
        authUrl = "http://127.0.0.1:9999/auth/v1",
        autoRefresh = false,
        persistSession = false,
        jitter = false,
    )
    SessionMachine(config).use { m ->
        // Set up as the Rust and C benches do: initialize, sign in with the token answer.
        m.handleCommand(NOW, Command.Initialize)
        val signIn = m.handleCommand(
            NOW,
            Command.SignInWithPassword(email = "ada.lovelace@example.com", phone = null, password = "correct horse"),
        )
        val request = signIn.outputs.filterIsInstance<MachineOutput.Http>().single().request
        val headers = listOf(NameValue("content-type", "application/json"), NameValue("x-supabase-api-version", "2024-01-01"))
        m.handleResponse(NOW, request.id, HttpResponse(200u, headers, answer))
        check(m.handleTimeout(NOW).outputs.isEmpty()) { "the empty step has outputs" }
        val done = m.handleCommand(NOW, Command.GetSession).outputs.single() as MachineOutput.Complete
        val value = (done.outcome as OpOutcome.Success).value as OpValue.Session
        check(value.session?.refreshToken == "rt-b") { "get_session has no session" }

        bench("trivial_storage_in_sync", n) { if (m.storageInSync()) 1 else 0 }
        bench("trivial_poll_timeout", n) { if (m.pollTimeout() == null) 0 else 1 }
        bench("handle_timeout_nothing_due", n) { m.handleTimeout(NOW).outputs.size }
        bench("get_session_memory_only", n / 4) { m.handleCommand(NOW, Command.GetSession).outputs.size }
    }
    if (sink == Int.MIN_VALUE) println(sink)
}
