import Foundation
import GoTrueSessionFFI

/// A `SessionStorage` in memory: for tests, server-side clients and apps that persist nothing.
public final class MemoryStorage: SessionStorage, @unchecked Sendable {
    // Unchecked because the compiler cannot see the lock: every access to `values` holds it, so
    // the client's threads and the app's may call in at once. (`Synchronization.Mutex` would let
    // the compiler check this, but needs iOS 18 / macOS 15.)
    private let lock = NSLock()
    private var values: [String: String] = [:]

    public init() {}

    public func get(key: String) -> String? {
        lock.lock()
        defer { lock.unlock() }
        return values[key]
    }

    public func set(key: String, value: String) {
        lock.lock()
        defer { lock.unlock() }
        values[key] = value
    }

    public func remove(key: String) {
        lock.lock()
        defer { lock.unlock() }
        values[key] = nil
    }

    /// Everything stored now.
    public func snapshot() -> [String: String] {
        lock.lock()
        defer { lock.unlock() }
        return values
    }
}
