package io.supabase.gotruesession

import java.util.concurrent.ConcurrentHashMap

/** A [SessionStorage] in memory: for tests, server-side clients and apps that persist nothing. */
class MemorySessionStorage : SessionStorage {
    private val map = ConcurrentHashMap<String, String>()

    override fun get(key: String): String? = map[key]

    override fun set(
        key: String,
        value: String,
    ) {
        map[key] = value
    }

    override fun remove(key: String) {
        map.remove(key)
    }

    /** Everything stored now. */
    fun snapshot(): Map<String, String> = HashMap(map)
}
