package io.supabase.gotruesession

import java.io.File
import java.io.IOException
import java.nio.ByteBuffer
import java.nio.channels.FileChannel
import java.nio.file.AtomicMoveNotSupportedException
import java.nio.file.FileAlreadyExistsException
import java.nio.file.Files
import java.nio.file.NoSuchFileException
import java.nio.file.Path
import java.nio.file.StandardCopyOption
import java.nio.file.StandardOpenOption
import java.nio.file.attribute.PosixFilePermissions
import java.util.concurrent.atomic.AtomicLong

/**
 * A [SessionStorage] in a folder, one file per key, for JVM apps, CLIs and desktop apps (on
 * Android, prefer `SharedPreferencesSessionStorage` or a store backed by the Keystore).
 *
 * The layout is the one of the Rust shells' `FileStorage`, so a Kotlin and a Rust process can
 * share the folder: a key becomes a file name (`[A-Za-z0-9._-]` kept, every other byte `%XX`, a
 * leading dot escaped). Writes are atomic (a temporary file, fsync, rename); the folder and the
 * files are readable by their owner only where the file system has POSIX permissions. A file
 * that is not valid UTF-8 is read as lossy text (the core then reports it as no session). Every
 * I/O failure is [StorageException.Unavailable], never "absent".
 */
class FileSessionStorage(
    /** The folder; created (owner-only) on first use when missing. */
    val directory: File,
) : SessionStorage {
    private val dir: Path = directory.toPath()

    override fun get(key: String): String? {
        val bytes =
            try {
                Files.readAllBytes(path(key))
            } catch (e: NoSuchFileException) {
                return null
            } catch (e: IOException) {
                throw unavailable("reading", e)
            } catch (e: SecurityException) {
                throw unavailable("reading", e)
            }
        return String(bytes, Charsets.UTF_8)
    }

    override fun set(
        key: String,
        value: String,
    ) {
        try {
            ensureDir()
            val target = path(key)
            val temp = dir.resolve(".${fileName(key)}.tmp-$instance-${counter.incrementAndGet()}")
            try {
                FileChannel.open(temp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE).use { ch ->
                    ownerOnly(temp, "rw-------")
                    val buf = ByteBuffer.wrap(value.toByteArray(Charsets.UTF_8))
                    while (buf.hasRemaining()) ch.write(buf)
                    ch.force(true)
                }
                try {
                    Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING)
                } catch (e: AtomicMoveNotSupportedException) {
                    Files.move(temp, target, StandardCopyOption.REPLACE_EXISTING)
                }
            } finally {
                Files.deleteIfExists(temp)
            }
            syncDir()
        } catch (e: IOException) {
            throw unavailable("writing", e)
        } catch (e: SecurityException) {
            throw unavailable("writing", e)
        }
    }

    override fun remove(key: String) {
        try {
            Files.deleteIfExists(path(key))
        } catch (e: IOException) {
            throw unavailable("removing", e)
        } catch (e: SecurityException) {
            throw unavailable("removing", e)
        }
    }

    private fun path(key: String): Path = dir.resolve(fileName(key))

    private fun ensureDir() {
        if (Files.isDirectory(dir)) return
        try {
            Files.createDirectories(dir)
        } catch (e: FileAlreadyExistsException) {
            throw IOException("${dir.fileName} exists and is not a folder", e)
        }
        ownerOnly(dir, "rwx------")
    }

    private fun ownerOnly(
        path: Path,
        permissions: String,
    ) {
        try {
            Files.setPosixFilePermissions(path, PosixFilePermissions.fromString(permissions))
        } catch (e: UnsupportedOperationException) {
            // Not a POSIX file system (Windows): the folder's ACL applies.
        }
    }

    /** Makes the rename itself durable, where the platform can open a folder. */
    private fun syncDir() {
        try {
            FileChannel.open(dir, StandardOpenOption.READ).use { it.force(true) }
        } catch (e: IOException) {
            // Best effort: some platforms cannot open a folder as a channel.
        }
    }

    private fun unavailable(
        what: String,
        e: Exception,
    ) = StorageException.Unavailable("$what: ${e.javaClass.simpleName}")

    companion object {
        private val counter = AtomicLong()

        /** Tells this process's temporary files from another's (no `ProcessHandle` on Android). */
        private val instance = java.util.UUID.randomUUID().toString().substring(0, 8)

        /** The file name of [key]: the same mapping as the Rust shells' `FileStorage`. */
        fun fileName(key: String): String {
            val out = StringBuilder()
            key.toByteArray(Charsets.UTF_8).forEachIndexed { i, byte ->
                val b = byte.toInt() and 0xff
                val c = b.toChar()
                val plain = (c in 'a'..'z') || (c in 'A'..'Z') || (c in '0'..'9') || c == '-' || c == '_' || (c == '.' && i > 0)
                if (plain) out.append(c) else out.append('%').append(String.format("%02X", b))
            }
            return if (out.isEmpty()) "%00" else out.toString()
        }
    }
}
