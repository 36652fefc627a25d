import Dispatch
import Foundation
import GoTrueSessionFFI
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// An `HttpTransport` over `URLSession`, for apps that want auth requests to go through the
/// platform's stack (proxies, VPN and cellular settings, certificate pinning set up in a
/// delegate, App Transport Security) instead of the built-in Rust one.
///
/// The client calls `send` from its own blocking threads, possibly several at once; each call
/// waits for its request. The answer is returned whatever its status; only a failure before any
/// answer (refused, reset, timed out, DNS, TLS) is a `TransportError`, which the client treats as
/// retryable. Redirects are not followed (the redirect answer itself is returned), no cookies and
/// no cache are used, each request has a timeout, and at most `maxBodyBytes` + 1 bytes of a body
/// are handed on (the core refuses a body over its 1 MiB limit as `invalid_response`).
///
/// Note: on Linux (swift-corelibs-foundation) whether a session delegate is asked about
/// redirects depends on the Foundation version; GoTrue does not redirect its API requests.
public final class URLSessionTransport: HttpTransport {
    private let session: URLSession
    private let timeout: TimeInterval
    private let maxBodyBytes: Int

    /// A transport with a session of its own: ephemeral (no cache, no cookies), `timeout` seconds
    /// for each request from start to last byte.
    public init(timeout: TimeInterval = 10, maxBodyBytes: Int = 1 << 20) {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = timeout
        configuration.timeoutIntervalForResource = timeout
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        configuration.urlCache = nil
        configuration.httpShouldSetCookies = false
        configuration.httpCookieAcceptPolicy = .never
        configuration.httpCookieStorage = nil
        self.timeout = timeout
        self.maxBodyBytes = maxBodyBytes
        session = URLSession(configuration: configuration, delegate: NoRedirects(), delegateQueue: nil)
    }

    /// A transport over a session made from `configuration` (your proxy settings, protocol
    /// classes, ...), used as given: set its timeouts yourself. `timeout` only bounds how long
    /// `send` waits in the worst case.
    public init(configuration: URLSessionConfiguration, timeout: TimeInterval = 10, maxBodyBytes: Int = 1 << 20) {
        self.timeout = timeout
        self.maxBodyBytes = maxBodyBytes
        session = URLSession(configuration: configuration, delegate: NoRedirects(), delegateQueue: nil)
    }

    deinit {
        session.finishTasksAndInvalidate()
    }

    public func send(request: HttpRequest) throws -> HttpResponse {
        guard let url = URL(string: request.url) else {
            throw TransportError.Failed(reason: "not a valid URL (path \(request.path))")
        }
        var urlRequest = URLRequest(url: url, cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: timeout)
        urlRequest.httpShouldHandleCookies = false
        switch request.method {
        case .get:
            urlRequest.httpMethod = "GET"
        case .post:
            urlRequest.httpMethod = "POST"
            urlRequest.httpBody = Data((request.body ?? "").utf8)
        }
        for header in request.headers {
            urlRequest.addValue(header.value, forHTTPHeaderField: header.name)
        }

        let outcome = Outcome()
        let task = session.dataTask(with: urlRequest) { data, response, error in
            outcome.finish(data: data, response: response, error: error)
        }
        task.resume()
        // The session enforces `timeout`; this bound only guards against a completion that never
        // comes (a user configuration without timeouts, a stuck delegate).
        if outcome.done.wait(timeout: .now() + timeout + 5) == .timedOut {
            task.cancel()
            throw TransportError.Failed(reason: "no answer within \(Int(timeout + 5)) s")
        }

        if let error = outcome.error {
            throw TransportError.Failed(reason: Self.describe(error, request))
        }
        guard let http = outcome.response as? HTTPURLResponse else {
            throw TransportError.Failed(reason: "the answer is not HTTP")
        }
        // At most one byte past the cap is handed on: the core then refuses the body as too large
        // (`invalid_response`, with its limit), as it does whatever the transport. A transport
        // failure instead would be retried, and differ from the other platforms.
        let body = Data((outcome.data ?? Data()).prefix(maxBodyBytes + 1))
        var headers: [NameValue] = []
        for (name, value) in http.allHeaderFields {
            guard let name = name as? String else { continue }
            headers.append(NameValue(name: name, value: "\(value)"))
        }
        return HttpResponse(status: UInt16(clamping: http.statusCode), headers: headers, body: body)
    }

    /// The failure's kind and message, with the URL cut to its path: never the query (or a
    /// header, or the body), which can carry secrets.
    private static func describe(_ error: Error, _ request: HttpRequest) -> String {
        let kind: String
        if let urlError = error as? URLError {
            kind = "URLError \(urlError.code.rawValue)"
        } else {
            kind = String(describing: type(of: error))
        }
        var message = error.localizedDescription.replacingOccurrences(of: request.url, with: request.path)
        if let query = message.firstIndex(of: "?") {
            message = String(message[..<query])
        }
        return "the request failed: \(kind): \(message.prefix(160))"
    }
}

/// One request's result, handed from URLSession's queue to the waiting thread.
///
/// Unchecked because the compiler cannot see the ordering: `finish` writes the fields once, on
/// URLSession's queue, before it signals `done`, and `send` reads them only after `done` was
/// signalled (and never when the wait timed out), so no access races with another.
private final class Outcome: @unchecked Sendable {
    let done = DispatchSemaphore(value: 0)
    private(set) var data: Data?
    private(set) var response: URLResponse?
    private(set) var error: Error?

    func finish(data: Data?, response: URLResponse?, error: Error?) {
        self.data = data
        self.response = response
        self.error = error
        done.signal()
    }
}

/// Refuses every redirect: the redirect answer is handed to the client as is.
private final class NoRedirects: NSObject, URLSessionTaskDelegate, Sendable {
    func urlSession(
        _ session: URLSession,
        task: URLSessionTask,
        willPerformHTTPRedirection response: HTTPURLResponse,
        newRequest request: URLRequest,
        completionHandler: @escaping @Sendable (URLRequest?) -> Void
    ) {
        completionHandler(nil)
    }
}
