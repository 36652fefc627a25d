import Foundation
import GoTrueSessionFFI

extension AuthClient {
    /// Runs one of the client's calls so that cancelling the calling task ends the wait at once,
    /// with `CancellationError`.
    ///
    /// The generated `async` methods do not observe Swift task cancellation (UniFFI 0.32's
    /// Swift bindings never cancel the Rust future): a cancelled task waits until the call
    /// completes and then gets its result. Wrap a call in `cancellable` where a task must stop
    /// waiting when it is cancelled (a view that went away, a request handler that timed out):
    ///
    /// ```swift
    /// let session = try await client.cancellable { try await $0.refreshSession() }
    /// ```
    ///
    /// Only the wait is cancelled, never the operation: it runs to completion inside the client,
    /// which is what keeps the session consistent. A refresh already sent has spent its refresh
    /// token, so its answer is still stored and announced (TOKEN_REFRESHED) when it lands, and
    /// concurrent callers of the same refresh still share it. A task cancelled before the call
    /// starts throws at once and starts nothing.
    public func cancellable<T: Sendable>(
        _ call: @escaping @Sendable (AuthClient) async throws -> T
    ) async throws -> T {
        try Task.checkCancellation()
        let outcome = OneShot<T>()
        // Unstructured on purpose: it does not inherit the caller's cancellation, so the
        // operation finishes even when nobody waits for it any more.
        Task { [self] in
            do {
                outcome.finish(.success(try await call(self)))
            } catch {
                outcome.finish(.failure(error))
            }
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { outcome.wait(with: $0) }
        } onCancel: {
            outcome.finish(.failure(CancellationError()))
        }
    }
}

/// The first of two outcomes (the call's result, or the caller's cancellation), handed to the
/// waiting continuation exactly once, whichever arrives first and whether or not the
/// continuation is installed yet.
///
/// Unchecked because the compiler cannot see the lock: every access to `continuation` and
/// `early` holds it, and the continuation is resumed outside it, once.
final class OneShot<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var continuation: CheckedContinuation<T, Error>?
    private var early: Result<T, Error>?
    private var finished = false

    /// Installs the waiting continuation; resumes it at once if an outcome came first.
    func wait(with continuation: CheckedContinuation<T, Error>) {
        lock.lock()
        if let early {
            self.early = nil
            lock.unlock()
            continuation.resume(with: early)
            return
        }
        self.continuation = continuation
        lock.unlock()
    }

    /// Delivers `result` if nothing was delivered yet; later outcomes are dropped.
    func finish(_ result: Result<T, Error>) {
        lock.lock()
        if finished {
            lock.unlock()
            return
        }
        finished = true
        guard let waiting = continuation else {
            early = result
            lock.unlock()
            return
        }
        continuation = nil
        lock.unlock()
        waiting.resume(with: result)
    }
}
