package io.supabase.gotruesession

/**
 * The kind of an [AuthException], as the core names it: `session_missing`, `api`,
 * `retryable_fetch`, `invalid_response`, `refresh_discarded`, `invalid_input`, `storage` or
 * `session_unconfirmed`.
 */
val AuthException.kind: String
    get() =
        when (this) {
            is AuthException.SessionMissing -> "session_missing"
            is AuthException.Api -> "api"
            is AuthException.RetryableFetch -> "retryable_fetch"
            is AuthException.InvalidResponse -> "invalid_response"
            is AuthException.RefreshDiscarded -> "refresh_discarded"
            is AuthException.InvalidInput -> "invalid_input"
            is AuthException.Storage -> "storage"
            is AuthException.SessionUnconfirmed -> "session_unconfirmed"
        }

/** The HTTP status of the answer behind the error, if there was one. */
val AuthException.httpStatus: Int?
    get() =
        when (this) {
            is AuthException.SessionMissing -> status
            is AuthException.Api -> status
            is AuthException.RetryableFetch -> status
            is AuthException.InvalidResponse -> status
            is AuthException.RefreshDiscarded -> status
            is AuthException.InvalidInput -> status
            is AuthException.Storage -> status
            is AuthException.SessionUnconfirmed -> status
        }?.toInt()

/** The GoTrue error code (`session_not_found`, `refresh_token_already_used`, ...), if known. */
val AuthException.errorCode: String?
    get() =
        when (this) {
            is AuthException.SessionMissing -> code
            is AuthException.Api -> code
            is AuthException.RetryableFetch -> code
            is AuthException.InvalidResponse -> code
            is AuthException.RefreshDiscarded -> code
            is AuthException.InvalidInput -> code
            is AuthException.Storage -> code
            is AuthException.SessionUnconfirmed -> code
        }

/** A human-readable explanation, free of secrets. */
val AuthException.detailText: String
    get() =
        when (this) {
            is AuthException.SessionMissing -> detail
            is AuthException.Api -> detail
            is AuthException.RetryableFetch -> detail
            is AuthException.InvalidResponse -> detail
            is AuthException.RefreshDiscarded -> detail
            is AuthException.InvalidInput -> detail
            is AuthException.Storage -> detail
            is AuthException.SessionUnconfirmed -> detail
        }

/**
 * Whether the same call may succeed later, unchanged; the session is kept. True for
 * [AuthException.RetryableFetch] (a network failure, a 5xx, a 429) and
 * [AuthException.SessionUnconfirmed] (the session is alive, the refresh endpoint just accepted
 * it, but `/user` could not confirm it yet: typically a lagging read replica).
 */
val AuthException.isRetryable: Boolean
    get() = this is AuthException.RetryableFetch || this is AuthException.SessionUnconfirmed
