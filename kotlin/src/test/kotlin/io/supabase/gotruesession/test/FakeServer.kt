package io.supabase.gotruesession.test

import java.io.BufferedReader
import java.io.InputStreamReader
import java.net.HttpURLConnection
import java.net.URL
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit

/**
 * The fake GoTrue server (`gotrue-session serve --port 0`) in a process of its own, one per test,
 * driven through its admin routes (tests/fake-gotrue/README.md). Closing it stops the process.
 */
class FakeServer private constructor(
    private val process: Process,
    /** The auth URL, `http://127.0.0.1:PORT/auth/v1`. */
    val url: String,
    /** The anon key to send as `apikey`. */
    val anonKey: String,
) : AutoCloseable {
    /** The server root, where `/admin/...` lives. */
    val root: String = url.removeSuffix("/auth/v1")

    companion object {
        const val EMAIL = "ada@example.com"
        const val PASSWORD = "correct horse"

        private val running = java.util.Collections.synchronizedSet(HashSet<Process>())

        init {
            // Whatever happens to a test, no server outlives the run.
            Runtime.getRuntime().addShutdownHook(Thread { running.toList().forEach { it.destroyForcibly() } })
        }

        fun start(): FakeServer {
            val p = ProcessBuilder(Env.cli, "serve", "--port", "0").redirectErrorStream(true).start()
            running += p
            val lines = LinkedBlockingQueue<String>()
            Thread {
                BufferedReader(InputStreamReader(p.inputStream)).use { r ->
                    while (true) lines.put(r.readLine() ?: break)
                }
            }.apply { isDaemon = true }.start()
            var url: String? = null
            var key: String? = null
            val deadline = System.currentTimeMillis() + 10_000
            while (url == null || key == null) {
                val left = deadline - System.currentTimeMillis()
                val line = if (left > 0) lines.poll(left, TimeUnit.MILLISECONDS) else null
                if (line == null) {
                    p.destroyForcibly()
                    running -= p
                    error("the fake server did not start within 10 s")
                }
                if (line.startsWith("fake GoTrue listening at ")) url = line.removePrefix("fake GoTrue listening at ").trim()
                if (line.startsWith("anon key: ")) key = line.removePrefix("anon key: ").trim()
            }
            return FakeServer(p, url, key)
        }
    }

    /** An admin call; returns the parsed JSON answer (or throws on a status other than 2xx). */
    fun admin(
        method: String,
        path: String,
        body: Any? = null,
    ): Any? {
        val conn = URL("$root$path").openConnection() as HttpURLConnection
        try {
            conn.requestMethod = method
            conn.connectTimeout = 5_000
            conn.readTimeout = 10_000
            if (body != null) {
                conn.doOutput = true
                conn.setRequestProperty("content-type", "application/json")
                conn.outputStream.use { it.write(Json.write(body).toByteArray()) }
            }
            val status = conn.responseCode
            val text = (if (status >= 400) conn.errorStream else conn.inputStream)?.use { it.readBytes().decodeToString() } ?: ""
            if (status !in 200..299) throw AssertionError("admin $method $path: HTTP $status $text")
            return if (text.isBlank()) null else Json.parse(text)
        } finally {
            conn.disconnect()
        }
    }

    /** Queues [count] faults on [target] (`refresh`, `user`, `logout`, `token`, `any`, ...). */
    fun inject(
        target: String,
        fault: Map<String, Any?>,
        count: Int = 1,
    ) {
        admin("POST", "/admin/faults", linkedMapOf("target" to target, "fault" to fault, "count" to count))
    }

    fun clearFaults() {
        admin("DELETE", "/admin/faults")
    }

    /** Sign-out from another device: revokes every session of [email]; returns how many. */
    fun revokeUserSessions(email: String = EMAIL): Int =
        ((admin("POST", "/admin/sessions/revoke", mapOf("email" to email)) as Map<*, *>)["revoked"] as JsonNumber).toLong().toInt()

    /**
     * A lagging read replica: `GET /user` misses a new session for [windowMs] after it was made,
     * and on its first [misses] reads however late they come (the deterministic form).
     */
    fun setReplicaLag(
        windowMs: Long = 0,
        misses: Int = 0,
        afterCreate: Boolean,
        afterRefresh: Boolean,
    ) {
        admin(
            "POST",
            "/admin/replica-lag",
            linkedMapOf(
                "window_ms" to windowMs,
                "misses" to misses,
                "after_create" to afterCreate,
                "after_refresh" to afterRefresh,
            ),
        )
    }

    fun setDown(down: Boolean) {
        admin("POST", "/admin/down", mapOf("down" to down))
    }

    /** Refresh requests the server received (faulted ones included). */
    fun refreshRequests(): Int = received("token:refresh_token")

    /** Requests the server received for [endpoint] (`token:refresh_token`, `user`, `logout`, ...). */
    fun received(endpoint: String): Int {
        val counters = admin("GET", "/admin/counters") as Map<*, *>
        val received = counters["received"] as Map<*, *>
        return (received[endpoint] as JsonNumber?)?.toLong()?.toInt() ?: 0
    }

    /** The server's request log, one compact JSON line per request (for failure messages). */
    fun requestLog(): String =
        ((admin("GET", "/admin/requests") as Map<*, *>)["requests"] as List<*>).joinToString("\n") { Json.write(it) }

    /** The server's active sessions of [email]. */
    fun sessions(email: String = EMAIL): List<Map<*, *>> {
        val answer = admin("GET", "/admin/sessions?email=${java.net.URLEncoder.encode(email, "UTF-8")}") as Map<*, *>
        return (answer["sessions"] as List<*>).map { it as Map<*, *> }
    }

    override fun close() {
        try {
            admin("POST", "/admin/shutdown")
        } catch (e: Exception) {
            // Already gone, or not answering: the process is stopped below either way.
        }
        if (!process.waitFor(5, TimeUnit.SECONDS)) process.destroyForcibly().waitFor(5, TimeUnit.SECONDS)
        running -= process
    }
}
