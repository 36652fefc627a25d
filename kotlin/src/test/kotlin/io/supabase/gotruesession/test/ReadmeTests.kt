package io.supabase.gotruesession.test

import io.supabase.gotruesession.example.signInAndWatch
import java.nio.file.Files
import kotlin.test.assertEquals

fun registerReadmeTests(t: TestRun) {
    t.test("the README's example runs against the fake server") {
        withServer { server ->
            val dir = Files.createTempDirectory("gotrue-readme").toFile()
            try {
                val email = signInAndWatch(server.url, server.anonKey, dir)
                assertEquals(FakeServer.EMAIL, email)
            } finally {
                dir.deleteRecursively()
            }
        }
    }
}
