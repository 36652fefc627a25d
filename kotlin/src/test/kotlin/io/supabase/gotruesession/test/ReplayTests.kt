package io.supabase.gotruesession.test

import io.supabase.gotruesession.AuthException
import io.supabase.gotruesession.Command
import io.supabase.gotruesession.EventKind
import io.supabase.gotruesession.MachineConfig
import io.supabase.gotruesession.MachineOutput
import io.supabase.gotruesession.OpOutcome
import io.supabase.gotruesession.OpValue
import io.supabase.gotruesession.SessionMachine
import io.supabase.gotruesession.StorageReadResult
import java.io.File
import java.nio.file.Files
import java.util.concurrent.TimeUnit
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue
import kotlin.test.fail

/** `gotrue-session replay FILE`: its stdout and exit code. */
private fun rustReplay(file: File): Pair<ByteArray, Int> {
    val p = ProcessBuilder(Env.cli, "replay", file.path).redirectError(ProcessBuilder.Redirect.DISCARD).start()
    val out = p.inputStream.use { it.readBytes() }
    if (!p.waitFor(30, TimeUnit.SECONDS)) {
        p.destroyForcibly()
        fail("the Rust replay of ${file.name} did not finish")
    }
    return out to p.exitValue()
}

/** The first line where two traces differ, for the failure message. */
private fun firstDifference(
    a: String,
    b: String,
): String {
    val la = a.lines()
    val lb = b.lines()
    val i = la.indices.firstOrNull { it >= lb.size || la[it] != lb[it] } ?: lb.size
    return "line ${i + 1}:\n  rust:   ${la.getOrNull(i)}\n  kotlin: ${lb.getOrNull(i)}"
}

fun registerReplayTests(t: TestRun) {
    val files = Env.scenarios.listFiles { f -> f.name.endsWith(".json") }!!.sortedBy { it.name }
    assertTrue(files.size >= 10, "scenario files in ${Env.scenarios}")
    for (file in files) {
        t.test("same bytes: ${file.name} through the Rust replay and SessionMachine from Kotlin") {
            val (rust, code) = rustReplay(file)
            val kotlin =
                try {
                    ScenarioReplay.trace(file)
                } catch (e: ScenarioReplay.ScenarioError) {
                    assertEquals(2, code, "Kotlin rejected ${file.name} (${e.message}); Rust did not")
                    return@test
                }
            assertTrue(code == 0 || code == 1, "the Rust replay failed (exit $code)")
            val rustText = rust.decodeToString()
            if (!rust.contentEquals(kotlin.toByteArray(Charsets.UTF_8))) fail(firstDifference(rustText, kotlin))
            assertTrue(rustText.lines().size > 2, "a real trace")
        }
    }

    t.test("scenario options are checked as the Rust replay checks them (verify_cooldown_ms, session_not_found)") {
        val dir = Files.createTempDirectory("gotrue-options").toFile()
        try {
            // Each option's JSON text, and whether the Rust replay accepts it.
            val cases =
                listOf(
                    """"verify_cooldown_ms": 0""" to true,
                    """"verify_cooldown_ms": 600000""" to true,
                    """"verify_cooldown_ms": null""" to true,
                    """"verify_cooldown_ms": -1""" to false,
                    """"verify_cooldown_ms": 600001""" to false,
                    """"verify_cooldown_ms": 9223372036854775808""" to false,
                    """"verify_cooldown_ms": 1.5""" to false,
                    """"verify_cooldown_ms": 1e3""" to false,
                    """"verify_cooldown_ms": "30000"""" to false,
                    """"session_not_found": "verify"""" to true,
                    """"session_not_found": "sometimes"""" to false,
                )
            for ((i, case) in cases.withIndex()) {
                val (option, accepted) = case
                val file = File(dir, "options-$i.json")
                file.writeText("""{"options": {$option}, "steps": [{"call": "initialize"}, {"call": "get_user"}]}""")
                val (rust, code) = rustReplay(file)
                val kotlin =
                    try {
                        ScenarioReplay.trace(file)
                    } catch (e: ScenarioReplay.ScenarioError) {
                        null
                    }
                assertEquals(if (accepted) 0 else 2, code, "the Rust replay of {$option}")
                if (accepted) {
                    assertEquals(rust.decodeToString(), assertNotNull(kotlin, "Kotlin rejected {$option}"), option)
                } else {
                    assertNull(kotlin, "Kotlin accepted {$option}")
                }
            }
        } finally {
            dir.deleteRecursively()
        }
    }

    t.test("SessionMachine: one call per input returns all of its outputs, in order") {
        SessionMachine(MachineConfig(storageKey = "sb-k-auth-token", apiKey = "anon", authUrl = "http://x/auth/v1/")).use { m ->
            val now = 1_767_225_600_000uL
            val start = m.handleCommand(now, Command.Initialize)
            val op = assertNotNull(start.op)
            val read = start.outputs.single() as MachineOutput.StorageRead
            assertEquals("sb-k-auth-token", read.key)
            val done = m.handleStorageRead(now, read.id, StorageReadResult.Absent)
            assertEquals(2, done.outputs.size, "${done.outputs}")
            val event = done.outputs[0] as MachineOutput.Event
            assertEquals(EventKind.INITIAL_SESSION, event.event.kind)
            val complete = done.outputs[1] as MachineOutput.Complete
            assertEquals(op, complete.op)
            assertEquals(OpValue.Done, (complete.outcome as OpOutcome.Success).value)
            assertNull(done.nextTimeoutMs)
            val signIn = m.handleCommand(now, Command.SignInWithPassword("a@b.c", null, "pw"))
            val http = signIn.outputs.single() as MachineOutput.Http
            assertEquals("http://x/auth/v1/token?grant_type=password", http.request.url)
            val failed = m.handleTransportFailure(now, http.request.id, "refused")
            val outcome = (failed.outputs.single() as MachineOutput.Complete).outcome as OpOutcome.Failure
            assertTrue(outcome.error is AuthException.RetryableFetch)
            assertFailsWith<AuthException.InvalidInput> { m.handleCommand(now, Command.SignInAnonymously("{not json")) }
        }
    }
}
