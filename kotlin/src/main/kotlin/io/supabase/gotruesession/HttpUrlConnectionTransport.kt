package io.supabase.gotruesession

import java.io.ByteArrayOutputStream
import java.io.IOException
import java.io.InputStream
import java.net.HttpURLConnection
import java.net.URL

/**
 * An [HttpTransport] over `java.net.HttpURLConnection`, for apps that want requests to go
 * through the platform's stack (proxies, certificate pinning set up there, Android's network
 * security config). Works on Android and on the JVM, with no dependency.
 *
 * The answer is returned whatever its status; only a failure before any answer is a
 * [TransportException]. Redirects are not followed, each request has a connect and a read
 * timeout, and at most [maxBodyBytes] + 1 bytes of a body are read (the core refuses a body over
 * its 1 MiB limit as `invalid_response`).
 *
 * Note: the JDK's `HttpURLConnection` may resend a POST once on its own when a kept-alive
 * connection turns out to be closed (system property `sun.net.http.retryPost`, default true).
 * GoTrue accepts a refresh token sent twice this way, so the session is safe; set the property to
 * `false` if you want every request sent exactly once.
 */
class HttpUrlConnectionTransport(
    /** How long to wait for the connection, in ms. */
    private val connectTimeoutMs: Int = 10_000,
    /** How long to wait for the answer once connected, in ms. */
    private val readTimeoutMs: Int = 10_000,
    /** The most of a body kept (one byte more is read, to show it was larger); GoTrue's answers are a few KB. */
    private val maxBodyBytes: Int = 1 shl 20,
) : HttpTransport {
    override fun send(request: HttpRequest): HttpResponse {
        val conn =
            try {
                URL(request.url).openConnection() as HttpURLConnection
            } catch (e: IOException) {
                throw failed("opening the connection", e, request)
            } catch (e: ClassCastException) {
                throw TransportException.Failed("not an HTTP URL")
            }
        try {
            conn.instanceFollowRedirects = false
            conn.useCaches = false
            conn.connectTimeout = connectTimeoutMs
            conn.readTimeout = readTimeoutMs
            conn.requestMethod =
                when (request.method) {
                    HttpMethod.GET -> "GET"
                    HttpMethod.POST -> "POST"
                }
            for (h in request.headers) conn.addRequestProperty(h.name, h.value)
            val body = request.body?.toByteArray(Charsets.UTF_8)
            if (request.method == HttpMethod.POST) {
                val bytes = body ?: ByteArray(0)
                conn.doOutput = true
                conn.setFixedLengthStreamingMode(bytes.size)
                conn.outputStream.use { it.write(bytes) }
            }
            val status = conn.responseCode
            if (status < 0) throw TransportException.Failed("the answer is not HTTP")
            val headers = mutableListOf<NameValue>()
            for ((name, values) in conn.headerFields) {
                if (name == null) continue // the status line
                for (v in values) headers.add(NameValue(name, v))
            }
            val stream = if (status >= 400) conn.errorStream else inputOrNull(conn)
            val answer = stream?.use { readCapped(it) } ?: ByteArray(0)
            return HttpResponse(status.toUShort(), headers, answer)
        } catch (e: TransportException) {
            throw e
        } catch (e: IOException) {
            throw failed("the request failed", e, request)
        } catch (e: RuntimeException) {
            throw failed("the request failed", e, request)
        } finally {
            conn.disconnect()
        }
    }

    private fun inputOrNull(conn: HttpURLConnection): InputStream? =
        try {
            conn.inputStream
        } catch (e: IOException) {
            conn.errorStream
        }

    // At most one byte past the cap is read and handed on: the core then refuses the body as too
    // large (`invalid_response`, with its limit), as it does whatever the transport. A transport
    // failure instead would be retried, and differ from the other platforms.
    private fun readCapped(input: InputStream): ByteArray {
        val out = ByteArrayOutputStream()
        val buf = ByteArray(8192)
        val most = maxBodyBytes.toLong() + 1
        while (out.size() < most) {
            val n = input.read(buf, 0, minOf(buf.size.toLong(), most - out.size()).toInt())
            if (n < 0) break
            out.write(buf, 0, n)
        }
        return out.toByteArray()
    }

    // The reason names the failure's class and its message, with the URL cut to its path: never
    // the query or the headers.
    private fun failed(
        what: String,
        e: Exception,
        request: HttpRequest,
    ): TransportException {
        val message = e.message?.replace(request.url, request.path)?.take(160)
        return TransportException.Failed("$what: ${e.javaClass.simpleName}${message?.let { ": $it" } ?: ""}")
    }
}
