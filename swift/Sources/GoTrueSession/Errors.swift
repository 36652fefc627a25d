import Foundation
import GoTrueSessionFFI

extension AuthError {
    /// The kind, as the core names it: `session_missing`, `api`, `retryable_fetch`,
    /// `invalid_response`, `refresh_discarded`, `invalid_input`, `storage` or
    /// `session_unconfirmed`.
    public var kind: String {
        switch self {
        case .SessionMissing: return "session_missing"
        case .Api: return "api"
        case .RetryableFetch: return "retryable_fetch"
        case .InvalidResponse: return "invalid_response"
        case .RefreshDiscarded: return "refresh_discarded"
        case .InvalidInput: return "invalid_input"
        case .Storage: return "storage"
        case .SessionUnconfirmed: return "session_unconfirmed"
        }
    }

    /// The HTTP status of the answer behind the error, if there was one.
    public var httpStatus: Int? {
        fields.status.map { Int($0) }
    }

    /// The GoTrue error code (`session_not_found`, `refresh_token_already_used`, ...), if known.
    public var errorCode: String? {
        fields.code
    }

    /// A human-readable explanation, free of secrets.
    public var detailText: String {
        fields.detail
    }

    /// For retryable errors: the earliest time a retry is worth making, when the server said.
    public var retryAfter: Date? {
        fields.retryAfterMs.map { Date(timeIntervalSince1970: Double($0) / 1000) }
    }

    /// Whether the same call may succeed later, unchanged; the session is kept. True for
    /// `RetryableFetch` (a network failure, a 5xx, a 429) and `SessionUnconfirmed` (the session
    /// is alive, the refresh endpoint just accepted it, but `/user` could not confirm it yet:
    /// typically a lagging read replica).
    public var isRetryable: Bool {
        switch self {
        case .RetryableFetch, .SessionUnconfirmed: return true
        case .SessionMissing, .Api, .InvalidResponse, .RefreshDiscarded, .InvalidInput, .Storage: return false
        }
    }

    private var fields: (detail: String, status: UInt16?, code: String?, retryAfterMs: UInt64?) {
        switch self {
        case let .SessionMissing(detail, status, code, retryAfterMs),
             let .Api(detail, status, code, retryAfterMs),
             let .RetryableFetch(detail, status, code, retryAfterMs),
             let .InvalidResponse(detail, status, code, retryAfterMs),
             let .RefreshDiscarded(detail, status, code, retryAfterMs),
             let .InvalidInput(detail, status, code, retryAfterMs),
             let .Storage(detail, status, code, retryAfterMs),
             let .SessionUnconfirmed(detail, status, code, retryAfterMs):
            return (detail, status, code, retryAfterMs)
        }
    }
}
