package io.supabase.gotruesession.android

import android.content.Context
import android.content.SharedPreferences
import io.supabase.gotruesession.SessionStorage
import io.supabase.gotruesession.StorageException

/**
 * A [SessionStorage] over [SharedPreferences] (Android; provided as source, not built by this
 * repository's CI).
 *
 * Writes use `commit()`, which is synchronous and reports failure: the client then keeps the
 * session in memory and retries the write, instead of believing a write that never landed.
 * (The client calls the store from its own thread, never the main thread.) For tokens at rest
 * under a hardware-backed key, wrap the values with a Keystore cipher in your own
 * [SessionStorage]; `EncryptedSharedPreferences` is deprecated.
 */
class SharedPreferencesSessionStorage(
    private val prefs: SharedPreferences,
) : SessionStorage {
    /** The preferences file [name] of [context], private to the app. */
    constructor(context: Context, name: String = "gotrue-session") :
        this(context.applicationContext.getSharedPreferences(name, Context.MODE_PRIVATE))

    override fun get(key: String): String? =
        try {
            prefs.getString(key, null)
        } catch (e: ClassCastException) {
            // Another component stored something else under this key: not a session, so the
            // client will report it as an invalid stored value and remove it.
            ""
        } catch (e: RuntimeException) {
            throw StorageException.Unavailable("reading: ${e.javaClass.simpleName}")
        }

    override fun set(
        key: String,
        value: String,
    ) {
        val ok =
            try {
                prefs.edit().putString(key, value).commit()
            } catch (e: RuntimeException) {
                throw StorageException.Unavailable("writing: ${e.javaClass.simpleName}")
            }
        if (!ok) throw StorageException.Unavailable("writing: commit() failed")
    }

    override fun remove(key: String) {
        val ok =
            try {
                prefs.edit().remove(key).commit()
            } catch (e: RuntimeException) {
                throw StorageException.Unavailable("removing: ${e.javaClass.simpleName}")
            }
        if (!ok) throw StorageException.Unavailable("removing: commit() failed")
    }
}
