package io.supabase.gotruesession.test

import java.math.BigDecimal
import java.math.BigInteger
import java.math.MathContext
import java.math.RoundingMode

/**
 * A small JSON reader and writer that behaves like Rust's serde_json (with `preserve_order`), so
 * the Kotlin replay prints byte for byte what `gotrue-session replay` prints.
 *
 * Values: `null`, [Boolean], [String], [JsonNumber], [List], and [LinkedHashMap] (insertion order,
 * a repeated key keeps its first position and takes the last value, as serde_json's map does).
 */
object Json {
    class ParseError(message: String) : Exception(message)

    fun parse(text: String): Any? {
        val p = Parser(text)
        p.ws()
        val v = p.value(0)
        p.ws()
        if (p.i != text.length) throw ParseError("trailing characters at ${p.i}")
        return v
    }

    fun parseOrNull(text: String): Any? =
        try {
            parse(text)
        } catch (e: ParseError) {
            Unparsable
        }

    /** What [parseOrNull] returns for text that is not JSON. */
    object Unparsable

    fun write(v: Any?): String = StringBuilder().also { write(v, it) }.toString()

    fun write(
        v: Any?,
        out: StringBuilder,
    ) {
        when (v) {
            null -> out.append("null")
            is Boolean -> out.append(v)
            is String -> string(v, out)
            is JsonNumber -> out.append(v.text)
            is Int -> out.append(v)
            is Long -> out.append(v)
            is ULong -> out.append(v)
            is UShort -> out.append(v)
            is Map<*, *> -> {
                out.append('{')
                var first = true
                for ((k, value) in v) {
                    if (!first) out.append(',')
                    first = false
                    string(k as String, out)
                    out.append(':')
                    write(value, out)
                }
                out.append('}')
            }
            is List<*> -> {
                out.append('[')
                v.forEachIndexed { i, item ->
                    if (i > 0) out.append(',')
                    write(item, out)
                }
                out.append(']')
            }
            else -> throw IllegalArgumentException("not a JSON value: ${v.javaClass}")
        }
    }

    private fun string(
        s: String,
        out: StringBuilder,
    ) {
        out.append('"')
        for (c in s) {
            when (c) {
                '"' -> out.append("\\\"")
                '\\' -> out.append("\\\\")
                '\n' -> out.append("\\n")
                '\r' -> out.append("\\r")
                '\t' -> out.append("\\t")
                '\b' -> out.append("\\b")
                '\u000c' -> out.append("\\f")
                else -> if (c < ' ') out.append(String.format("\\u%04x", c.code)) else out.append(c)
            }
        }
        out.append('"')
    }

    private class Parser(val s: String) {
        var i = 0

        fun ws() {
            while (i < s.length && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++
        }

        fun fail(what: String): Nothing = throw ParseError("$what at $i")

        fun value(depth: Int): Any? {
            if (depth > 128) fail("recursion limit exceeded")
            if (i >= s.length) fail("EOF while parsing a value")
            return when (s[i]) {
                '{' -> obj(depth)
                '[' -> arr(depth)
                '"' -> str()
                't' -> lit("true", true)
                'f' -> lit("false", false)
                'n' -> lit("null", null)
                else -> if (s[i] == '-' || s[i] in '0'..'9') num() else fail("expected value")
            }
        }

        fun lit(
            word: String,
            v: Any?,
        ): Any? {
            if (!s.startsWith(word, i)) fail("expected $word")
            i += word.length
            return v
        }

        fun obj(depth: Int): Any {
            i++
            val m = LinkedHashMap<String, Any?>()
            ws()
            if (i < s.length && s[i] == '}') {
                i++
                return m
            }
            while (true) {
                ws()
                if (i >= s.length || s[i] != '"') fail("expected a key")
                val k = str()
                ws()
                if (i >= s.length || s[i] != ':') fail("expected ':'")
                i++
                ws()
                m[k] = value(depth + 1)
                ws()
                if (i >= s.length) fail("EOF in an object")
                when (s[i]) {
                    ',' -> i++
                    '}' -> {
                        i++
                        return m
                    }
                    else -> fail("expected ',' or '}'")
                }
            }
        }

        fun arr(depth: Int): Any {
            i++
            val l = ArrayList<Any?>()
            ws()
            if (i < s.length && s[i] == ']') {
                i++
                return l
            }
            while (true) {
                ws()
                l.add(value(depth + 1))
                ws()
                if (i >= s.length) fail("EOF in an array")
                when (s[i]) {
                    ',' -> i++
                    ']' -> {
                        i++
                        return l
                    }
                    else -> fail("expected ',' or ']'")
                }
            }
        }

        fun hex4(): Int {
            if (i + 4 > s.length) fail("EOF in an escape")
            val h = s.substring(i, i + 4)
            if (!h.all { it in '0'..'9' || it in 'a'..'f' || it in 'A'..'F' }) fail("invalid escape")
            i += 4
            return h.toInt(16)
        }

        fun str(): String {
            i++
            val b = StringBuilder()
            while (true) {
                if (i >= s.length) fail("EOF in a string")
                val c = s[i++]
                when {
                    c == '"' -> return b.toString()
                    c == '\\' -> {
                        if (i >= s.length) fail("EOF in a string")
                        when (s[i++]) {
                            '"' -> b.append('"')
                            '\\' -> b.append('\\')
                            '/' -> b.append('/')
                            'b' -> b.append('\b')
                            'f' -> b.append('\u000c')
                            'n' -> b.append('\n')
                            'r' -> b.append('\r')
                            't' -> b.append('\t')
                            'u' -> {
                                val u = hex4()
                                if (u in 0xD800..0xDBFF) {
                                    if (!s.startsWith("\\u", i)) fail("lone leading surrogate")
                                    i += 2
                                    val low = hex4()
                                    if (low !in 0xDC00..0xDFFF) fail("invalid low surrogate")
                                    b.append(u.toChar()).append(low.toChar())
                                } else if (u in 0xDC00..0xDFFF) {
                                    fail("lone trailing surrogate")
                                } else {
                                    b.append(u.toChar())
                                }
                            }
                            else -> fail("invalid escape")
                        }
                    }
                    c < ' ' -> fail("control character in a string")
                    else -> b.append(c)
                }
            }
        }

        fun num(): JsonNumber {
            val start = i
            if (s[i] == '-') i++
            if (i >= s.length) fail("EOF in a number")
            if (s[i] == '0') {
                i++
            } else if (s[i] in '1'..'9') {
                while (i < s.length && s[i] in '0'..'9') i++
            } else {
                fail("invalid number")
            }
            var float = false
            if (i < s.length && s[i] == '.') {
                float = true
                i++
                if (i >= s.length || s[i] !in '0'..'9') fail("invalid number")
                while (i < s.length && s[i] in '0'..'9') i++
            }
            if (i < s.length && (s[i] == 'e' || s[i] == 'E')) {
                float = true
                i++
                if (i < s.length && (s[i] == '+' || s[i] == '-')) i++
                if (i >= s.length || s[i] !in '0'..'9') fail("invalid number")
                while (i < s.length && s[i] in '0'..'9') i++
            }
            return JsonNumber.of(s.substring(start, i), float) ?: fail("number out of range")
        }
    }
}

/** A number, kept as serde_json prints it: an integer (u64 or i64) or a float in ryu's form. */
class JsonNumber private constructor(val text: String, val isInteger: Boolean) {
    fun toLong(): Long = if (isInteger) text.toLong() else text.toDouble().toLong()

    fun toDouble(): Double = text.toDouble()

    override fun equals(other: Any?) = other is JsonNumber && other.text == text

    override fun hashCode() = text.hashCode()

    override fun toString() = text

    companion object {
        private val U64_MAX = BigInteger("18446744073709551615")
        private val I64_MIN = BigInteger.valueOf(Long.MIN_VALUE)

        fun of(
            lexeme: String,
            float: Boolean,
        ): JsonNumber? {
            if (!float) {
                val n = BigInteger(lexeme)
                if (lexeme.startsWith("-")) {
                    // serde_json reads `-0` as the float -0.0.
                    if (n.signum() != 0 && n >= I64_MIN) return JsonNumber(n.toString(), true)
                } else if (n <= U64_MAX) {
                    return JsonNumber(n.toString(), true)
                }
            }
            val d = lexeme.toDouble()
            if (d.isInfinite() || d.isNaN()) return null
            return JsonNumber(ryu(d), false)
        }

        /** The text ryu (and so serde_json) gives a finite double. */
        fun ryu(d: Double): String {
            if (d == 0.0) return if (1.0 / d < 0) "-0.0" else "0.0"
            val exact = BigDecimal(d)
            var shortest = exact
            for (p in 1..17) {
                val r = exact.round(MathContext(p, RoundingMode.HALF_EVEN))
                if (r.toDouble() == d) {
                    shortest = r
                    break
                }
            }
            val neg = shortest.signum() < 0
            val stripped = shortest.abs().stripTrailingZeros()
            val digits = stripped.unscaledValue().toString()
            val k = -stripped.scale() // value = digits * 10^k
            val length = digits.length
            val kk = length + k
            val body =
                when {
                    k >= 0 && kk <= 16 -> digits + "0".repeat(k) + ".0"
                    kk in 1..16 -> digits.substring(0, kk) + "." + digits.substring(kk)
                    kk > -5 && kk <= 0 -> "0." + "0".repeat(-kk) + digits
                    length == 1 -> digits + "e" + (kk - 1)
                    else -> digits[0] + "." + digits.substring(1) + "e" + (kk - 1)
                }
            return if (neg) "-$body" else body
        }
    }
}
