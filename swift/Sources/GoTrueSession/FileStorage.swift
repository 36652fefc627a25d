import Foundation
import GoTrueSessionFFI

#if canImport(Darwin)
import Darwin
#elseif canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A `SessionStorage` in a folder, one file per key: for Linux servers, command-line tools and
/// desktop apps. On Apple platforms, prefer `KeychainStorage`.
///
/// The layout is the one of the Rust shells' `FileStorage` (and Kotlin's `FileSessionStorage`),
/// so processes in any of these languages can share the folder: a key becomes a file name
/// (`[A-Za-z0-9._-]` kept, every other byte `%XX`, a leading dot escaped).
///
/// - Writes are atomic: a temporary file in the same folder, written, `fsync`ed, then renamed
///   over the old one (and the folder synced, where it can be). A reader sees the old value or
///   the new one, never half of one.
/// - The folder (created on first write when missing) is `rwx------` and the files
///   `rw-------`: readable by their owner only.
/// - A missing file is "absent" (`nil`); every other failure (permissions, a folder where the
///   file should be, I/O errors) is `StorageError.Unavailable`, so the client never signs out
///   because of it. A file that is not valid UTF-8 is read as lossy text, which the core reports
///   as an invalid stored value.
public final class FileStorage: SessionStorage {
    /// The folder.
    public let directory: URL
    private let path: String

    /// A store in `directory`; the folder is created (owner-only) on the first write.
    public init(directory: URL) {
        self.directory = directory
        path = directory.path
    }

    public func get(key: String) throws -> String? {
        let file = filePath(key)
        let fd = open(file, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            let code = errno
            if code == ENOENT { return nil }
            throw Self.unavailable("opening", code)
        }
        defer { _ = close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                bytes.append(contentsOf: buffer[0..<n])
            } else if n == 0 {
                break
            } else {
                let code = errno
                if code == EINTR { continue }
                throw Self.unavailable("reading", code)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    public func set(key: String, value: String) throws {
        try ensureDirectory()
        let target = filePath(key)
        let temp = path + "/.\(Self.fileName(key)).tmp-\(getpid())-\(Self.counter.next())"
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if fd < 0 {
            throw Self.unavailable("writing", errno)
        }
        var renamed = false
        defer {
            if !renamed { _ = unlink(temp) }
        }
        do {
            try Self.writeAll(fd, Array(value.utf8))
            if fsync(fd) != 0 {
                throw Self.unavailable("writing", errno)
            }
        } catch {
            _ = close(fd)
            throw error
        }
        if close(fd) != 0 {
            throw Self.unavailable("writing", errno)
        }
        if rename(temp, target) != 0 {
            throw Self.unavailable("writing", errno)
        }
        renamed = true
        syncDirectory()
    }

    public func remove(key: String) throws {
        if unlink(filePath(key)) != 0 {
            let code = errno
            if code != ENOENT {
                throw Self.unavailable("removing", code)
            }
        }
    }

    /// The file name of `key`: the same mapping as the Rust shells' `FileStorage`.
    public static func fileName(_ key: String) -> String {
        let hex = Array("0123456789ABCDEF")
        var out = ""
        for (i, b) in key.utf8.enumerated() {
            if isPlain(b, first: i == 0) {
                out.append(Character(Unicode.Scalar(b)))
            } else {
                out.append("%")
                out.append(hex[Int(b >> 4)])
                out.append(hex[Int(b & 0x0F)])
            }
        }
        return out.isEmpty ? "%00" : out
    }

    private static func isPlain(_ b: UInt8, first: Bool) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
            return true
        case UInt8(ascii: "."):
            return !first
        default:
            return false
        }
    }

    private func filePath(_ key: String) -> String {
        path + "/" + Self.fileName(key)
    }

    /// Creates the folder (and missing parents), owner-only, unless it exists.
    private func ensureDirectory() throws {
        switch Self.kind(of: path) {
        case .directory:
            return
        case .other:
            throw StorageError.Unavailable(reason: "writing: \(directory.lastPathComponent) exists and is not a folder")
        case .missing:
            try Self.makeDirectories(path)
        }
    }

    private enum Kind { case missing, directory, other }

    private static func kind(of path: String) -> Kind {
        var info = stat()
        if stat(path, &info) != 0 { return .missing }
        // S_IFMT and S_IFDIR, spelled out: their types differ between Darwin and Glibc.
        return (UInt32(info.st_mode) & 0o170000) == 0o040000 ? .directory : .other
    }

    private static func makeDirectories(_ path: String) throws {
        if mkdir(path, 0o700) == 0 { return }
        var code = errno
        if code == ENOENT, let slash = path.lastIndex(of: "/"), slash != path.startIndex {
            try makeDirectories(String(path[..<slash]))
            if mkdir(path, 0o700) == 0 { return }
            code = errno
        }
        if code == EEXIST, kind(of: path) == .directory { return }
        throw unavailable("creating the folder", code)
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { raw in
                write(fd, raw.baseAddress! + offset, raw.count - offset)
            }
            if n < 0 {
                let code = errno
                if code == EINTR { continue }
                throw unavailable("writing", code)
            }
            offset += n
        }
    }

    /// Makes the rename itself durable, where the platform can sync a folder (best effort).
    private func syncDirectory() {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd >= 0 {
            _ = fsync(fd)
            _ = close(fd)
        }
    }

    private static func unavailable(_ what: String, _ code: Int32) -> StorageError {
        StorageError.Unavailable(reason: "\(what): \(String(cString: strerror(code))) (errno \(code))")
    }

    /// Tells this process's temporary files apart.
    private static let counter = Counter()

    // Unchecked because the compiler cannot see the lock: every access to `value` holds it.
    // (`Synchronization.Mutex` would let it check this, but needs iOS 18 / macOS 15.)
    private final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var value: UInt64 = 0

        func next() -> UInt64 {
            lock.lock()
            defer { lock.unlock() }
            value += 1
            return value
        }
    }
}
