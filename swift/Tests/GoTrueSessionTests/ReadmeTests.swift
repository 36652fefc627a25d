import Foundation
import GoTrueSession
import XCTest

/// swift/README.md's usage example (extracted into ReadmeExample.swift by swift/generate.sh)
/// runs against the fake server.
final class ReadmeTests: XCTestCase {
    func testTheReadmeExampleRunsAgainstTheFakeServer() async throws {
        try await withServer { server in
            try await withTemporaryDirectory { dir in
                let email = try await signInAndWatch(url: server.url, anonKey: server.anonKey, directory: dir)
                XCTAssertEqual(email, FakeServer.email)
            }
        }
    }
}
