package io.supabase.gotruesession.test

import io.supabase.gotruesession.AuthException
import io.supabase.gotruesession.Command
import io.supabase.gotruesession.HttpRequest
import io.supabase.gotruesession.HttpResponse
import io.supabase.gotruesession.Lifecycle
import io.supabase.gotruesession.MachineConfig
import io.supabase.gotruesession.MachineOutput
import io.supabase.gotruesession.MachineStep
import io.supabase.gotruesession.NameValue
import io.supabase.gotruesession.OpOutcome
import io.supabase.gotruesession.OpValue
import io.supabase.gotruesession.OtpRecipient
import io.supabase.gotruesession.Reachability
import io.supabase.gotruesession.SessionMachine
import io.supabase.gotruesession.SessionNotFoundPolicy
import io.supabase.gotruesession.SignOutScope
import io.supabase.gotruesession.StorageReadResult
import io.supabase.gotruesession.detailText
import io.supabase.gotruesession.errorCode
import io.supabase.gotruesession.httpStatus
import io.supabase.gotruesession.kind
import java.io.File
import java.util.PriorityQueue
import java.util.TreeMap

/**
 * Replays a scenario file (shared/scenario-format.md) through [SessionMachine] from Kotlin and
 * prints the trace, line for line what `gotrue-session replay FILE` prints: this mirrors
 * cli/src/replay.rs and cli/src/steps.rs, with the machine's outputs carried out in the same
 * order (outputs of an answer to a storage output queue behind the rest of the batch, as they do
 * behind the rest of the machine's queue in Rust).
 */
class ScenarioReplay private constructor(
    private val sc: Map<String, Any?>,
) {
    class ScenarioError(message: String) : Exception(message)

    private sealed class CallInput {
        class Cmd(val command: Command) : CallInput()

        class AutoRefresh(val on: Boolean) : CallInput()

        class Life(val state: Lifecycle) : CallInput()

        class Net(val state: Reachability) : CallInput()
    }

    private sealed class Step {
        class Call(val name: String, val input: CallInput) : Step()

        class Advance(val ms: Long) : Step()

        class StorageSet(val key: String, val value: String) : Step()

        class StorageFail(val op: Int, val times: Int) : Step()

        object Restart : Step()
    }

    private class Due(val at: Long, val seq: Long, val requestId: ULong)

    private val startMs: Long = (sc["start_ms"] as JsonNumber?)?.toLong() ?: 1_767_225_600_000L
    private val options = (sc["options"] as Map<*, *>?) ?: emptyMap<String, Any?>()
    private val storageKey = options["storage_key"] as String? ?: "sb-test-auth-token"
    private val steps: List<Step> = (sc["steps"] as List<*>).mapIndexed { i, m -> parseStep(i, m as Map<*, *>) }
    private val offline: List<Pair<Long, Long>> =
        ((sc["offline_ms"] as List<*>?) ?: emptyList<Any?>()).map {
            val w = it as List<*>
            (w[0] as JsonNumber).toLong() to (w[1] as JsonNumber).toLong()
        }

    private var now = startMs
    private var step = 0
    private val store = TreeMap<String, String>()
    private val faults = IntArray(3)
    private val queues = HashMap<String, ArrayDeque<Map<*, *>>>()
    private var machine: SessionMachine? = null
    private val calls = HashMap<ULong, Pair<String, Int>>()
    private val due = PriorityQueue<Due>(compareBy<Due>({ it.at }, { it.seq }, { it.requestId }))
    private val answers = HashMap<Long, Pair<ULong, Map<*, *>?>>()
    private var seq = 0L
    private val trace = StringBuilder()

    // The machine's output queue, mirrored: each step's batch is appended, then carried out in order.
    private val pending = ArrayDeque<MachineOutput>()
    private var nextTimeout: Long? = null

    init {
        for ((k, v) in (sc["storage"] as Map<*, *>?) ?: emptyMap<String, Any?>()) store[k as String] = v as String
        for ((route, list) in (sc["server"] as Map<*, *>?) ?: emptyMap<String, Any?>()) {
            queues[route as String] = ArrayDeque((list as List<*>).map { it as Map<*, *> })
        }
    }

    private fun config() =
        MachineConfig(
            storageKey = storageKey,
            apiKey = "test-anon-key",
            authUrl = "http://localhost/auth/v1",
            autoRefresh = options["auto_refresh_token"] as Boolean? ?: false,
            persistSession = options["persist_session"] as Boolean? ?: true,
            jitter = false,
            sessionNotFound =
                when (val policy = options["session_not_found"]) {
                    null, "verify" -> SessionNotFoundPolicy.VERIFY
                    "remove" -> SessionNotFoundPolicy.REMOVE
                    "defer" -> SessionNotFoundPolicy.DEFER
                    else -> throw ScenarioError("options.session_not_found: expected verify, remove or defer, got $policy")
                },
            verifyCooldownMs =
                options["verify_cooldown_ms"]?.let { ms ->
                    // An i64, as serde reads it: no fraction, no exponent, nothing out of range.
                    (ms as? JsonNumber)?.takeIf { it.isInteger }?.text?.toLongOrNull()
                        ?: throw ScenarioError("options.verify_cooldown_ms: expected an integer, got $ms")
                },
        )

    /** The machine, or the scenario rejected as the Rust replay rejects it when its options are unusable. */
    private fun newMachine(): SessionMachine =
        try {
            SessionMachine(config())
        } catch (e: AuthException.InvalidInput) {
            throw ScenarioError("options: ${e.detailText}")
        }

    private fun run(): String {
        try {
            for ((i, s) in steps.withIndex()) {
                step = i
                apply(s)
            }
            step = steps.size
            val storage = LinkedHashMap<String, Any?>()
            for ((k, v) in store) storage[k] = storedSummary(k, v)
            line(mapOf("end" to mapOf("storage" to storage)))
            return trace.toString()
        } finally {
            machine?.close()
        }
    }

    private fun line(body: Map<String, Any?>) {
        val obj = LinkedHashMap<String, Any?>()
        obj["step"] = step
        obj.putAll(body)
        Json.write(obj, trace)
        trace.append('\n')
    }

    private fun absorb(s: MachineStep) {
        pending.addAll(s.outputs)
        nextTimeout = s.nextTimeoutMs?.toLong()
    }

    private fun apply(s: Step) {
        when (s) {
            is Step.Call -> {
                if (machine == null) {
                    if (!(s.input is CallInput.Cmd && s.input.command is Command.Initialize)) {
                        throw ScenarioError("step $step: ${s.name} before initialize")
                    }
                    machine = newMachine()
                }
                val m = machine!!
                val at = now.toULong()
                when (val input = s.input) {
                    is CallInput.Cmd -> {
                        val st = m.handleCommand(at, input.command)
                        absorb(st)
                        calls[st.op!!] = s.name to step
                    }
                    else -> {
                        when (input) {
                            is CallInput.AutoRefresh -> absorb(m.setAutoRefresh(at, input.on))
                            is CallInput.Life -> absorb(m.handleLifecycle(at, input.state))
                            is CallInput.Net -> absorb(m.handleNetwork(at, input.state))
                            is CallInput.Cmd -> {}
                        }
                        line(mapOf("result" to linkedMapOf("call" to s.name, "call_step" to step, "ok" to true, "error" to null)))
                    }
                }
                drain()
            }
            is Step.Advance -> {
                val target = now + s.ms
                while (true) {
                    val t = nextEventTime() ?: break
                    if (t > target) break
                    now = maxOf(now, t)
                    drain()
                }
                now = target
                drain()
            }
            is Step.StorageSet -> store[s.key] = s.value
            is Step.StorageFail -> faults[s.op] += s.times
            is Step.Restart -> {
                machine?.close()
                machine = null
                calls.clear()
                due.clear()
                answers.clear()
                pending.clear()
                nextTimeout = null
            }
        }
    }

    private fun nextEventTime(): Long? {
        val answer = due.peek()?.at
        val timer = if (machine != null) nextTimeout else null
        return listOfNotNull(answer, timer).minOrNull()
    }

    private fun drain() {
        var rounds = 0
        while (true) {
            rounds++
            if (rounds > 100_000) throw ScenarioError("step $step: the machine keeps working without the clock moving")
            val m = machine ?: return
            if (pending.isNotEmpty()) {
                output(m, pending.removeFirst())
                continue
            }
            val first = due.peek()
            if (first != null && first.at <= now) {
                due.poll()
                answers.remove(first.seq)?.let { (id, answer) -> deliver(m, id, answer) }
                continue
            }
            val t = nextTimeout
            if (t != null && t <= now) {
                absorb(m.handleTimeout(now.toULong()))
                continue
            }
            return
        }
    }

    private fun deliver(
        m: SessionMachine,
        id: ULong,
        answer: Map<*, *>?,
    ) {
        val at = now.toULong()
        if (answer == null || answer["network_error"] == true) {
            absorb(m.handleTransportFailure(at, id, "fetch failed"))
            return
        }
        val headers = mutableListOf(NameValue("content-type", "application/json"))
        val extra = (answer["headers"] as Map<*, *>?) ?: emptyMap<String, Any?>()
        for (k in extra.keys.map { it as String }.sorted()) headers.add(NameValue(k, extra[k] as String))
        val body =
            when {
                answer["raw_body"] is String -> (answer["raw_body"] as String).toByteArray(Charsets.UTF_8)
                answer.containsKey("body") && answer["body"] != null -> Json.write(answer["body"]).toByteArray(Charsets.UTF_8)
                else -> ByteArray(0)
            }
        val status = (answer["status"] as JsonNumber?)?.toLong()?.toInt() ?: 200
        absorb(m.handleResponse(at, id, HttpResponse(status.toUShort(), headers, body)))
    }

    /** `storage_fail`: consumes one injected failure of kind [op] (read, write, remove), if any. */
    private fun fault(
        op: Int,
        key: String,
    ): Boolean {
        if (faults[op] == 0) return false
        faults[op]--
        line(mapOf("storage_error" to linkedMapOf("op" to OPS[op], "key" to key)))
        return true
    }

    private fun output(
        m: SessionMachine,
        out: MachineOutput,
    ) {
        val at = now.toULong()
        when (out) {
            is MachineOutput.Http -> request(out.request)
            is MachineOutput.StorageRead -> {
                val result =
                    if (fault(0, out.key)) {
                        StorageReadResult.Failed("injected read failure")
                    } else {
                        store[out.key]?.let { StorageReadResult.Found(it) } ?: StorageReadResult.Absent
                    }
                absorb(m.handleStorageRead(at, out.id, result))
            }
            is MachineOutput.StorageWrite -> {
                val failure =
                    if (fault(1, out.key)) {
                        "injected write failure"
                    } else {
                        val body =
                            if (out.key.endsWith("-code-verifier")) {
                                linkedMapOf<String, Any?>("key" to out.key)
                            } else {
                                linkedMapOf("key" to out.key, "tokens" to tokensOf(out.value))
                            }
                        store[out.key] = out.value
                        line(mapOf("storage_set" to body))
                        null
                    }
                absorb(m.handleStorageDone(at, out.id, failure))
            }
            is MachineOutput.StorageRemove -> {
                val failure =
                    if (fault(2, out.key)) {
                        "injected remove failure"
                    } else {
                        val existed = store.remove(out.key) != null
                        line(mapOf("storage_remove" to linkedMapOf("key" to out.key, "existed" to existed)))
                        null
                    }
                absorb(m.handleStorageDone(at, out.id, failure))
            }
            is MachineOutput.Event -> {
                // The Kotlin enum's names are auth-js's: INITIAL_SESSION, SIGNED_IN, ...
                line(linkedMapOf("event" to out.event.kind.name, "access_token" to out.event.session?.accessToken))
            }
            is MachineOutput.Complete -> {
                calls.remove(out.op)?.let { (call, callStep) -> line(mapOf("result" to resultLine(call, callStep, out.outcome))) }
            }
            // One process per replay: there is no other process to lock out.
            is MachineOutput.StorageUnlock, is MachineOutput.Diagnostic -> {}
        }
    }

    private fun request(req: HttpRequest) {
        val query = LinkedHashMap<String, Any?>()
        for (q in req.query) query[q.name] = q.value
        val body = req.body?.let { b -> Json.parseOrNull(b).let { if (it === Json.Unparsable) b else it } }
        val method = if (req.method.name == "GET") "GET" else "POST"
        val auth = req.headers.firstOrNull { it.name.equals("authorization", ignoreCase = true) }
        val bearer = auth?.value?.takeIf { it.startsWith("Bearer ") }?.removePrefix("Bearer ")
        line(
            mapOf(
                "request" to
                    linkedMapOf("method" to method, "path" to req.path, "query" to query, "bearer" to bearer, "body" to body),
            ),
        )
        val elapsed = now - startMs
        val isOffline = offline.any { (from, to) -> elapsed >= from && elapsed < to }
        val answer = if (isOffline) null else queues["$method ${req.path}"]?.removeFirstOrNull()
        val delay = (answer?.get("delay_ms") as JsonNumber?)?.toLong() ?: 0L
        seq++
        due.add(Due(now + delay, seq, req.id))
        answers[seq] = req.id to answer
    }

    companion object {
        private val OPS = listOf("read", "write", "remove")

        /** Calls whose result carries the session they yield. */
        private val SESSION_CALLS =
            setOf(
                "get_session", "refresh_session", "set_session", "sign_in_with_password", "sign_in_with_id_token",
                "sign_in_anonymously", "exchange_code", "verify_otp",
            )

        /** The trace of [file], as `gotrue-session replay FILE` prints it. */
        fun trace(file: File): String = ScenarioReplay(load(file)).run()

        private fun load(file: File): Map<String, Any?> {
            @Suppress("UNCHECKED_CAST")
            return Json.parse(file.readText()) as Map<String, Any?>
        }

        fun tokensOf(raw: String): Map<String, Any?> {
            val v = Json.parseOrNull(raw)
            if (v === Json.Unparsable) return linkedMapOf("unparsable" to true)
            val m = v as? Map<*, *>
            return linkedMapOf("access_token" to m?.get("access_token"), "refresh_token" to m?.get("refresh_token"))
        }

        private fun storedSummary(
            key: String,
            raw: String,
        ): Any = if (key.endsWith("-code-verifier")) linkedMapOf("present" to true) else tokensOf(raw)

        private fun resultLine(
            call: String,
            callStep: Int,
            outcome: OpOutcome,
        ): Map<String, Any?> {
            val line = linkedMapOf<String, Any?>("call" to call, "call_step" to callStep, "ok" to (outcome is OpOutcome.Success))
            line["error"] =
                when (outcome) {
                    is OpOutcome.Success -> null
                    is OpOutcome.Failure -> errorLine(outcome.error)
                }
            if (call in SESSION_CALLS) {
                val value = (outcome as? OpOutcome.Success)?.value
                line["access_token"] = (value as? OpValue.Session)?.session?.accessToken
            }
            if (call == "get_user" || call == "get_user_with_jwt") {
                val value = (outcome as? OpOutcome.Success)?.value
                line["user_id"] = (value as? OpValue.User)?.user?.id
            }
            return line
        }

        private fun errorLine(e: AuthException) = linkedMapOf("kind" to e.kind, "status" to e.httpStatus, "code" to e.errorCode)

        // ---- steps, as cli/src/steps.rs parses them ----

        private fun text(
            m: Map<*, *>,
            key: String,
        ): String = m[key] as? String ?: throw ScenarioError("needs a string `$key`")

        private fun optText(
            m: Map<*, *>,
            key: String,
        ): String? = m[key] as? String

        private fun parseStep(
            i: Int,
            m: Map<*, *>,
        ): Step {
            fun at(e: String) = ScenarioError("step $i: $e")
            if (m.containsKey("call")) {
                val name = m["call"] as? String ?: throw at("`call` must be a string")
                val input =
                    try {
                        call(name, m)
                    } catch (e: ScenarioError) {
                        throw at("$name: ${e.message}")
                    }
                return Step.Call(name, input)
            }
            if (m.containsKey("advance_ms")) {
                val v = m["advance_ms"] as? JsonNumber
                if (v == null || !v.isInteger || v.text.startsWith("-")) throw at("advance_ms must be a whole number of ms")
                return Step.Advance(v.toLong())
            }
            if (m.containsKey("storage_set")) {
                val o = m["storage_set"] as? Map<*, *> ?: throw at("storage_set must be an object")
                return Step.StorageSet(text(o, "key"), text(o, "value"))
            }
            if (m.containsKey("storage_fail")) {
                val o = m["storage_fail"] as? Map<*, *> ?: throw at("storage_fail must be an object")
                val op =
                    when (o["op"]) {
                        "read" -> 0
                        "write" -> 1
                        "remove" -> 2
                        else -> throw at("storage_fail.op must be read, write or remove")
                    }
                val times = (o["times"] as JsonNumber?)?.toLong()?.toInt() ?: 1
                return Step.StorageFail(op, times)
            }
            if (m.containsKey("restart")) return Step.Restart
            throw at("unknown step")
        }

        private fun call(
            name: String,
            m: Map<*, *>,
        ): CallInput {
            fun c(cmd: Command) = CallInput.Cmd(cmd)
            return when (name) {
                "initialize" -> c(Command.Initialize)
                "get_session" -> c(Command.GetSession)
                "get_user" -> c(Command.GetUser)
                "get_user_with_jwt" -> c(Command.GetUserWithJwt(text(m, "jwt")))
                "refresh_session" -> c(Command.RefreshSession)
                "set_session" -> c(Command.SetSession(text(m, "access_token"), text(m, "refresh_token")))
                "sign_out" ->
                    c(
                        Command.SignOut(
                            when (val s = optText(m, "scope")) {
                                null, "global" -> SignOutScope.GLOBAL
                                "local" -> SignOutScope.LOCAL
                                "others" -> SignOutScope.OTHERS
                                else -> throw ScenarioError("unknown scope \"$s\"")
                            },
                        ),
                    )
                "sign_in_with_password" -> c(Command.SignInWithPassword(optText(m, "email"), optText(m, "phone"), text(m, "password")))
                "exchange_code" -> c(Command.ExchangeCode(text(m, "auth_code")))
                "sign_in_with_id_token" ->
                    c(Command.SignInWithIdToken(text(m, "provider"), text(m, "token"), optText(m, "nonce"), optText(m, "access_token")))
                "sign_in_anonymously" -> c(Command.SignInAnonymously(if (m.containsKey("data")) Json.write(m["data"]) else null))
                "verify_otp" -> {
                    val email = optText(m, "email")
                    val phone = optText(m, "phone")
                    val recipient =
                        when {
                            email != null -> OtpRecipient.Email(email)
                            phone != null -> OtpRecipient.Phone(phone)
                            else -> OtpRecipient.TokenHash
                        }
                    c(Command.VerifyOtp(recipient, text(m, "token"), optText(m, "type") ?: "email"))
                }
                "start_auto_refresh" -> CallInput.AutoRefresh(true)
                "stop_auto_refresh" -> CallInput.AutoRefresh(false)
                "lifecycle" ->
                    CallInput.Life(
                        when (val s = text(m, "state")) {
                            "foreground" -> Lifecycle.FOREGROUND
                            "background" -> Lifecycle.BACKGROUND
                            else -> throw ScenarioError("unknown state \"$s\"")
                        },
                    )
                "network" ->
                    CallInput.Net(
                        when (val s = text(m, "state")) {
                            "online" -> Reachability.ONLINE
                            "offline" -> Reachability.OFFLINE
                            else -> throw ScenarioError("unknown state \"$s\"")
                        },
                    )
                else -> throw ScenarioError("unknown call \"$name\"")
            }
        }
    }
}

/** `java ... io.supabase.gotruesession.test.ReplayCli FILE...`: the Kotlin trace of each file, as the Rust replay prints it. */
object ReplayCli {
    @JvmStatic
    fun main(args: Array<String>) {
        val out = System.out.bufferedWriter(Charsets.UTF_8)
        for (path in args) out.write(ScenarioReplay.trace(File(path)))
        out.flush()
    }
}
