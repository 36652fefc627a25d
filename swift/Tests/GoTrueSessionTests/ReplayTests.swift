import Foundation
import GoTrueSession
import XCTest

/// Parity through Swift: every scenario of tests/scenarios replayed through `SessionMachine` from
/// Swift gives, byte for byte, the trace of `gotrue-session replay FILE`.
final class ReplayTests: XCTestCase {
    #if os(macOS) || os(Linux)
    func testEveryScenarioGivesTheRustReplaysBytesThroughSessionMachine() throws {
        let environment = ProcessInfo.processInfo.environment
        let cli = FakeServer.cli
        let scenarios = environment["GOTRUE_SCENARIOS"].map { URL(fileURLWithPath: $0) }
            ?? FakeServer.repository.appendingPathComponent("tests/scenarios")
        guard FileManager.default.isExecutableFile(atPath: cli) else {
            throw TestFailure("\(cli) is missing: run `cargo build -p gotrue-session-cli`, or set GOTRUE_CLI")
        }
        let files = try FileManager.default.contentsOfDirectory(at: scenarios, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "json" }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        XCTAssertGreaterThanOrEqual(files.count, 10, "scenario files in \(scenarios.path)")
        var same = 0
        var rejectedByBoth = 0
        for file in files {
            let name = file.lastPathComponent
            let (rust, code) = try rustReplay(cli: cli, file: file)
            let swift: String
            do {
                swift = try ScenarioReplay.trace(of: file)
            } catch let error as ScenarioReplay.ScenarioError {
                XCTAssertEqual(code, 2, "Swift rejected \(name) (\(error)); the Rust replay did not")
                if code == 2 { rejectedByBoth += 1 }
                continue
            }
            guard code == 0 || code == 1 else {
                XCTFail("\(name): the Rust replay failed (exit \(code)); Swift did not")
                continue
            }
            let rustText = String(decoding: rust, as: UTF8.self)
            if rust != Data(swift.utf8) {
                XCTFail("\(name): the traces differ at \(firstDifference(rustText, swift))")
                continue
            }
            XCTAssertGreaterThan(rustText.split(separator: "\n").count, 2, "\(name): a real trace")
            same += 1
        }
        XCTAssertEqual(same + rejectedByBoth, files.count)
        print("swift parity: \(same) of \(files.count) scenarios byte for byte the Rust replay's"
            + (rejectedByBoth > 0 ? ", \(rejectedByBoth) rejected by both" : ""))
    }

    /// A scenario's options are checked as the Rust replay checks them: what it rejects (exit 2)
    /// the Swift replay rejects; what it accepts gives the same trace.
    func testScenarioOptionsAreCheckedAsTheRustReplayChecksThem() async throws {
        let cli = FakeServer.cli
        guard FileManager.default.isExecutableFile(atPath: cli) else {
            throw TestFailure("\(cli) is missing: run `cargo build -p gotrue-session-cli`, or set GOTRUE_CLI")
        }
        // Each option's JSON text, and whether the Rust replay accepts it.
        let cases: [(option: String, accepted: Bool)] = [
            (#""verify_cooldown_ms": 0"#, true),
            (#""verify_cooldown_ms": 600000"#, true),
            (#""verify_cooldown_ms": null"#, true),
            (#""verify_cooldown_ms": -1"#, false),
            (#""verify_cooldown_ms": 600001"#, false),
            (#""verify_cooldown_ms": 9223372036854775808"#, false),
            (#""verify_cooldown_ms": 1.5"#, false),
            (#""verify_cooldown_ms": 1e3"#, false),
            (#""verify_cooldown_ms": "30000""#, false),
            (#""session_not_found": "verify""#, true),
            (#""session_not_found": "sometimes""#, false),
        ]
        try await withTemporaryDirectory { dir in
            for (i, (option, accepted)) in cases.enumerated() {
                let file = dir.appendingPathComponent("options-\(i).json")
                let text = #"{"options": {\#(option)}, "steps": [{"call": "initialize"}, {"call": "get_user"}]}"#
                try Data(text.utf8).write(to: file)
                let (rust, code) = try rustReplay(cli: cli, file: file)
                let swift = try? ScenarioReplay.trace(of: file)
                XCTAssertEqual(code, accepted ? 0 : 2, "the Rust replay of {\(option)}")
                if accepted {
                    XCTAssertEqual(swift, String(decoding: rust, as: UTF8.self), option)
                } else {
                    XCTAssertNil(swift, "Swift accepted {\(option)}")
                }
            }
        }
    }

    /// `gotrue-session replay FILE`: its stdout and exit code, killed after 30 s.
    private func rustReplay(cli: String, file: URL) throws -> (Data, Int32) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: cli)
        process.arguments = ["replay", file.path]
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        try process.run()
        let watchdog = DispatchWorkItem { if process.isRunning { process.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + 30, execute: watchdog)
        let data = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        watchdog.cancel()
        if process.terminationReason == .uncaughtSignal {
            throw TestFailure("the Rust replay of \(file.lastPathComponent) did not finish")
        }
        return (data, process.terminationStatus)
    }

    /// The first line where two traces differ, for the failure message.
    private func firstDifference(_ rust: String, _ swift: String) -> String {
        let a = rust.components(separatedBy: "\n")
        let b = swift.components(separatedBy: "\n")
        let i = a.indices.first { $0 >= b.count || a[$0] != b[$0] } ?? a.count
        return "line \(i + 1):\n  rust:  \(i < a.count ? a[i] : "")\n  swift: \(i < b.count ? b[i] : "")"
    }
    #endif

    // MARK: - The JSON the replay prints is serde_json's

    func testNumbersArePrintedAsSerdeJsonPrintsThem() throws {
        let cases: [(String, String)] = [
            ("0", "0"), ("-0", "-0.0"), ("18446744073709551615", "18446744073709551615"),
            ("18446744073709551616", "1.8446744073709552e19"), ("-9223372036854775808", "-9223372036854775808"),
            ("1.5", "1.5"), ("100.0", "100.0"), ("1e15", "1000000000000000.0"), ("1e16", "1e16"),
            ("1.25e17", "1.25e17"), ("0.0001", "0.0001"), ("0.00001", "0.00001"), ("0.000001", "1e-6"), ("1.5e-7", "1.5e-7"),
            ("123.456", "123.456"), ("0.1", "0.1"), ("-2.5E3", "-2500.0"), ("5e-324", "5e-324"),
            ("1.7976931348623157e308", "1.7976931348623157e308"),
        ]
        for (input, printed) in cases {
            XCTAssertEqual(try Json.parse(input).text, printed, input)
        }
        XCTAssertThrowsError(try Json.parse("1e400"), "out of range, as serde_json says")
    }

    func testObjectsKeepTheirOrderAndStringsTheirEscapes() throws {
        let parsed = try Json.parse(#"{"b":1,"a":[true,null],"b":"x\u00e9\ud83d\ude00\u0001\/\n"}"#)
        XCTAssertEqual(parsed.text, "{\"b\":\"xé😀\\u0001/\\n\",\"a\":[true,null]}")
        for bad in ["{", "[1,]", "\"\\ud800\"", "\"a\u{01}\"", "01", "1.", "tru", "{} x", "\"\\x\""] {
            XCTAssertThrowsError(try Json.parse(bad), bad)
        }
        let deep = String(repeating: "[", count: 200) + String(repeating: "]", count: 200)
        XCTAssertThrowsError(try Json.parse(deep), "serde_json's recursion limit")
    }
}
