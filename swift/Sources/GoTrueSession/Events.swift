import GoTrueSessionFFI

extension AuthClient {
    /// The client's auth events as an `AsyncStream`, in order.
    ///
    /// The subscription is registered before this method returns: every event caused by a call
    /// made after it reaches the stream. When the client is already initialized, the stream
    /// starts with INITIAL_SESSION carrying the current session. Each call makes a subscription
    /// of its own.
    ///
    /// The stream finishes when the client shuts down. Cancelling the task that iterates it, or
    /// dropping the stream, cancels the subscription. The default buffer keeps every event: the
    /// client never waits for a slow consumer.
    ///
    /// ```swift
    /// let events = client.events()
    /// let watcher = Task {
    ///     for await event in events { print(event.kind) }
    /// }
    /// ```
    public func events(
        bufferingPolicy: AsyncStream<AuthEvent>.Continuation.BufferingPolicy = .unbounded
    ) -> AsyncStream<AuthEvent> {
        AsyncStream(AuthEvent.self, bufferingPolicy: bufferingPolicy) { continuation in
            let subscription = self.subscribe(listener: StreamListener(continuation: continuation))
            continuation.onTermination = { @Sendable _ in
                // The consumer went away (or the stream finished): stop delivery. Cancelling a
                // subscription that already ended does nothing.
                subscription.cancel()
            }
        }
    }

    /// Delivers every auth event to `onEvent`, one call per event, in order, on a thread of the
    /// client's (not the main thread), until the returned subscription is cancelled or the client
    /// shuts down; then `onEnd` is called once. The handler should return quickly.
    ///
    /// Like `subscribe(listener:)`, it is registered when it returns. Dropping the returned
    /// object does not stop delivery: call `cancel()` on it.
    @discardableResult
    public func subscribe(
        onEvent: @escaping @Sendable (AuthEvent) -> Void,
        onEnd: @escaping @Sendable () -> Void = {}
    ) -> EventSubscription {
        subscribe(listener: ClosureListener(onEvent: onEvent, onEnd: onEnd))
    }
}

/// Bridges the callback interface to an `AsyncStream`.
final class StreamListener: AuthEventListener {
    // `AsyncStream.Continuation` is Sendable: `yield` and `finish` may be called from the
    // client's delivery thread while the stream is iterated elsewhere.
    private let continuation: AsyncStream<AuthEvent>.Continuation

    init(continuation: AsyncStream<AuthEvent>.Continuation) {
        self.continuation = continuation
    }

    func onEvent(event: AuthEvent) {
        continuation.yield(event)
    }

    func onEnd() {
        continuation.finish()
    }
}

/// Bridges the callback interface to two closures.
final class ClosureListener: AuthEventListener {
    private let handleEvent: @Sendable (AuthEvent) -> Void
    private let handleEnd: @Sendable () -> Void

    init(onEvent: @escaping @Sendable (AuthEvent) -> Void, onEnd: @escaping @Sendable () -> Void) {
        handleEvent = onEvent
        handleEnd = onEnd
    }

    func onEvent(event: AuthEvent) {
        handleEvent(event)
    }

    func onEnd() {
        handleEnd()
    }
}
