package io.supabase.gotruesession.test

import io.supabase.gotruesession.FileSessionStorage
import io.supabase.gotruesession.HttpMethod
import io.supabase.gotruesession.HttpRequest
import io.supabase.gotruesession.HttpUrlConnectionTransport
import io.supabase.gotruesession.NameValue
import io.supabase.gotruesession.StorageException
import io.supabase.gotruesession.TransportException
import java.io.File
import java.net.ServerSocket
import java.nio.file.Files
import java.nio.file.attribute.PosixFilePermissions
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertNull
import kotlin.test.assertTrue

private fun <T> withTempDir(body: (File) -> T): T {
    val dir = Files.createTempDirectory("gotrue-kotlin").toFile()
    try {
        return body(dir)
    } finally {
        dir.deleteRecursively()
    }
}

/** `GET /user` on [server], with the anon key and these headers besides. */
private fun userRequest(
    server: FakeServer,
    vararg headers: NameValue,
): HttpRequest =
    HttpRequest(
        id = 1u,
        method = HttpMethod.GET,
        url = "${server.url}/user",
        path = "/user",
        query = listOf(),
        headers = listOf(NameValue("apikey", server.anonKey)) + headers,
        body = null,
    )

fun registerLayerTests(t: TestRun) {
    t.test("FileSessionStorage: absent is null; set, overwrite, get, remove (twice)") {
        withTempDir { dir ->
            val s = FileSessionStorage(File(dir, "store"))
            assertNull(s.get("sb-x-auth-token"))
            s.set("sb-x-auth-token", "{\"a\":1}")
            assertEquals("{\"a\":1}", s.get("sb-x-auth-token"))
            s.set("sb-x-auth-token", "two ✓")
            assertEquals("two ✓", s.get("sb-x-auth-token"))
            s.remove("sb-x-auth-token")
            s.remove("sb-x-auth-token")
            assertNull(s.get("sb-x-auth-token"))
            assertEquals(listOf<String>(), File(dir, "store").list()!!.toList(), "no temporary file is left")
        }
    }

    t.test("FileSessionStorage: owner-only folder and files; the Rust shells' file names") {
        withTempDir { dir ->
            val s = FileSessionStorage(File(dir, "store"))
            s.set("k", "v")
            val perms = { f: File -> PosixFilePermissions.toString(Files.getPosixFilePermissions(f.toPath())) }
            assertEquals("rwx------", perms(File(dir, "store")))
            assertEquals("rw-------", perms(File(dir, "store/k")))
            assertEquals("%2E.%2F..%2Fetc%2Fpasswd", FileSessionStorage.fileName("../../etc/passwd"))
            assertEquals("%2Ehidden", FileSessionStorage.fileName(".hidden"))
            assertEquals("%00", FileSessionStorage.fileName(""))
            assertEquals("sb-abc-auth-token-code-verifier", FileSessionStorage.fileName("sb-abc-auth-token-code-verifier"))
            s.set("../escape", "x")
            assertTrue(File(dir, "store/%2E.%2Fescape").isFile, "hostile keys stay inside the folder")
        }
    }

    t.test("FileSessionStorage: an unreadable entry is Unavailable, not absent") {
        withTempDir { dir ->
            val s = FileSessionStorage(dir)
            File(dir, "k").mkdir() // a folder where the file should be
            assertFailsWith<StorageException.Unavailable> { s.get("k") }
            assertFailsWith<StorageException.Unavailable> { s.set("k", "v") }
            val blocked = FileSessionStorage(File(dir, "file/store"))
            File(dir, "file").writeText("not a folder")
            assertFailsWith<StorageException.Unavailable> { blocked.set("k", "v") }
        }
    }

    t.test("HttpUrlConnectionTransport: error statuses are answers, with body and headers") {
        withServer { server ->
            val transport = HttpUrlConnectionTransport()
            val req = userRequest(server, NameValue("X-Supabase-Api-Version", "2024-01-01"))
            val resp = transport.send(req)
            assertEquals(401, resp.status.toInt())
            assertTrue(resp.body.decodeToString().contains("no_authorization"), resp.body.decodeToString())
            assertTrue(resp.headers.any { it.name.equals("x-sb-error-code", true) && it.value == "no_authorization" })
            val post = req.copy(method = HttpMethod.POST, url = "${server.url}/token?grant_type=password", path = "/token", body = "{}")
            assertEquals(400, transport.send(post).status.toInt())
        }
    }

    t.test("HttpUrlConnectionTransport: a body over the cap is cut one byte past it, for the core to refuse") {
        withServer { server ->
            server.inject("user", mapOf("kind" to "raw", "status" to 200, "body" to "x".repeat(4_096)))
            val resp = HttpUrlConnectionTransport(maxBodyBytes = 1_024).send(userRequest(server))
            assertEquals(200, resp.status.toInt())
            assertEquals(1_025, resp.body.size)
        }
    }

    t.test("HttpUrlConnectionTransport: no answer is a TransportException, with no query in it") {
        val port = ServerSocket(0).use { it.localPort } // closed again: nothing listens there
        val transport = HttpUrlConnectionTransport(connectTimeoutMs = 2_000, readTimeoutMs = 2_000)
        val req =
            HttpRequest(
                id = 1u,
                method = HttpMethod.POST,
                url = "http://127.0.0.1:$port/auth/v1/token?grant_type=refresh_token",
                path = "/token",
                query = listOf(NameValue("grant_type", "refresh_token")),
                headers = listOf(),
                body = "{\"refresh_token\":\"secret\"}",
            )
        val e = assertFailsWith<TransportException.Failed> { transport.send(req) }
        assertTrue(!e.reason.contains("grant_type") && !e.reason.contains("secret"), e.reason)
    }

    t.test("JSON writer prints numbers and strings as serde_json does") {
        fun roundTrip(s: String) = Json.write(Json.parse(s))
        assertEquals("{\"b\":1,\"a\":[true,null,\"x\"]}", roundTrip(" { \"b\" : 1 , \"a\" : [ true , null , \"x\" ] } "))
        assertEquals("[1.5,100.0,1e16,1e-7,0.001,-0.0,18446744073709551615,1.8446744073709552e19,-5]",
            roundTrip("[1.50,1E2,1e16,0.0000001,1e-3,-0,18446744073709551615,18446744073709551616,-5]"))
        assertEquals("\"\\u0001\\n\\\"/é\"", roundTrip("\"\\u0001\\n\\\"\\/é\""))
        assertEquals("{\"a\":2}", roundTrip("{\"a\":1,\"a\":2}"))
        assertTrue(Json.parseOrNull("{\"a\":1} x") === Json.Unparsable)
        assertTrue(Json.parseOrNull("01") === Json.Unparsable)
    }
}
