package io.supabase.gotruesession.test

import kotlin.system.exitProcess

/**
 * Every Kotlin test: the layer (storage adapter, transport, JSON), the client against the fake
 * GoTrue server over loopback, the verify rule (session_unconfirmed, the verify cooldown) against
 * a scripted transport, the README's example, and the byte-for-byte comparison of scenario
 * traces with the Rust replay. Prints `N passed, N failed` last; exits 1 on any failure.
 * An argument runs only the tests whose name contains it.
 */
fun main(args: Array<String>) {
    val run = TestRun()
    registerLayerTests(run)
    registerClientTests(run)
    registerVerifyTests(run)
    registerReadmeTests(run)
    registerReplayTests(run)
    run.runAll(args.firstOrNull())
    println("${run.passed} passed, ${run.failed} failed")
    System.out.flush()
    exitProcess(if (run.failed == 0 && run.passed > 0) 0 else 1)
}
