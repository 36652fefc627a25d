// GoTrueSession: the Swift layer over the generated UniFFI bindings of gotrue-session.
//
// The generated module (GoTrueSessionFFI, from swift/generate.sh) holds the API itself:
// `AuthClient` with `async throws` methods, `SessionMachine`, the records (`Session`, `User`,
// `AuthEvent`, ...), the enums and the errors (`AuthError`, `StorageError`, `TransportError`), and
// the protocols the app implements (`SessionStorage`, `HttpTransport`, `AuthEventListener`).
// It is re-exported here, so apps write `import GoTrueSession` only.
//
// This module adds what is Swift-specific and thin: `AuthClient.events()` as an `AsyncStream`,
// accessors on `AuthError`, and adapters: `KeychainStorage` (Apple platforms), `FileStorage`
// (Linux and other POSIX systems), `MemoryStorage`, and `URLSessionTransport`.
// Every decision (when to refresh, when a session is really gone, what to store, which event to
// announce) stays in the Rust core.

@_exported import GoTrueSessionFFI
