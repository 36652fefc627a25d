import Foundation
import GoTrueSession
import XCTest

/// The READMEs' Swift examples (extracted by swift/generate.sh into ReadmeExample.swift and
/// TopReadmeExample.swift) run against the fake server.
final class ReadmeTests: XCTestCase {
    func testTheReadmeExampleRunsAgainstTheFakeServer() async throws {
        try await withServer { server in
            try await withTemporaryDirectory { dir in
                let email = try await signInAndWatch(url: server.url, anonKey: server.anonKey, directory: dir)
                XCTAssertEqual(email, FakeServer.email)
            }
        }
    }

    func testTheTopReadmeExampleRunsAgainstTheFakeServer() async throws {
        try await withServer { server in
            let storage = MemoryStorage()
            let user = try await signInReadUserSignOut(url: server.url, anonKey: server.anonKey, storage: storage)
            XCTAssertEqual(user.email, FakeServer.email)
            XCTAssertEqual(storage.snapshot(), [:], "signed out: nothing stored")
            let sessions = try await server.sessions()
            XCTAssertTrue(sessions.isEmpty, "the server's session is gone too")
        }
    }
}
