import Foundation

/// A JSON value read and written the way Rust's serde_json (with `preserve_order`) does, so the
/// Swift replay prints byte for byte what `gotrue-session replay` prints. Foundation's
/// JSONSerialization cannot serve: it loses key order and prints numbers its own way.
indirect enum Json {
    case null
    case bool(Bool)
    case string(String)
    case number(JsonNumber)
    case array([Json])
    case object(JsonObject)

    struct ParseError: Error, CustomStringConvertible {
        let description: String
    }

    /// Parses `text`, which must hold exactly one value (whitespace around it allowed).
    static func parse(_ text: String) throws -> Json {
        var parser = JsonParser(bytes: Array(text.utf8))
        parser.whitespace()
        let value = try parser.value(depth: 0)
        parser.whitespace()
        guard parser.index == parser.bytes.count else { throw parser.fail("trailing characters") }
        return value
    }

    /// The value's text, compact, as serde_json's `to_string` prints it.
    var text: String {
        var out = ""
        write(to: &out)
        return out
    }

    func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case let .bool(b): out += b ? "true" : "false"
        case let .string(s): Json.writeString(s, to: &out)
        case let .number(n): out += n.text
        case let .array(items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                item.write(to: &out)
            }
            out += "]"
        case let .object(object):
            out += "{"
            for (i, (key, value)) in object.entries.enumerated() {
                if i > 0 { out += "," }
                Json.writeString(key, to: &out)
                out += ":"
                value.write(to: &out)
            }
            out += "}"
        }
    }

    /// serde_json escapes `"`, `\` and control characters only, with the short forms it knows.
    private static func writeString(_ s: String, to out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }

    // Accessors, nil when the value is of another type.
    var stringValue: String? { if case let .string(s) = self { return s } else { return nil } }
    var boolValue: Bool? { if case let .bool(b) = self { return b } else { return nil } }
    var numberValue: JsonNumber? { if case let .number(n) = self { return n } else { return nil } }
    var arrayValue: [Json]? { if case let .array(a) = self { return a } else { return nil } }
    var objectValue: JsonObject? { if case let .object(o) = self { return o } else { return nil } }
    var isNull: Bool { if case .null = self { return true } else { return false } }
}

/// An object in insertion order. A repeated key keeps its first position and takes the last
/// value, as serde_json's map does.
struct JsonObject: ExpressibleByDictionaryLiteral {
    private(set) var entries: [(key: String, value: Json)] = []
    private var index: [String: Int] = [:]

    init() {}

    /// Literal pairs keep the order they are written in (a Swift dictionary would not).
    init(dictionaryLiteral elements: (String, Json)...) {
        for (key, value) in elements { self[key] = value }
    }

    subscript(key: String) -> Json? {
        get { index[key].map { entries[$0].value } }
        set {
            if let i = index[key] {
                if let newValue {
                    entries[i].value = newValue
                } else {
                    entries.remove(at: i)
                    index = Dictionary(uniqueKeysWithValues: entries.enumerated().map { ($1.key, $0) })
                }
            } else if let newValue {
                index[key] = entries.count
                entries.append((key, newValue))
            }
        }
    }

    func contains(_ key: String) -> Bool { index[key] != nil }
}

/// A number, kept as serde_json prints it: an integer (in u64 or i64) or a float in ryu's form.
struct JsonNumber {
    let text: String
    let isInteger: Bool

    init?(lexeme: String, isFloat: Bool) {
        if !isFloat {
            if lexeme.hasPrefix("-") {
                // serde_json reads `-0` as the float -0.0.
                if let n = Int64(lexeme), n != 0 {
                    self.text = String(n)
                    self.isInteger = true
                    return
                }
            } else if let n = UInt64(lexeme) {
                self.text = String(n)
                self.isInteger = true
                return
            }
        }
        guard let d = Double(lexeme), d.isFinite else { return nil }
        self.text = JsonNumber.ryu(d)
        self.isInteger = false
    }

    init(_ n: Int) {
        text = String(n)
        isInteger = true
    }

    var int64: Int64? { isInteger ? Int64(text) : Double(text).map { Int64($0) } }

    /// The text ryu (and so serde_json) gives a finite double: the shortest digits that read
    /// back as `d`, laid out as ryu lays them out. Swift's `description` finds the same
    /// shortest digits; only their layout differs.
    static func ryu(_ d: Double) -> String {
        if d == 0 { return d.sign == .minus ? "-0.0" : "0.0" }
        let negative = d < 0
        var description = Substring(abs(d).description)
        var exponent = 0
        if let e = description.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exponent = Int(description[description.index(after: e)...]) ?? 0
            description = description[..<e]
        }
        // description = whole.fraction: the value is digits * 10^(exponent - fraction count).
        let parts = description.split(separator: ".", omittingEmptySubsequences: false)
        let whole = parts[0]
        let fraction = parts.count > 1 ? parts[1] : ""
        var digits = String(whole) + String(fraction)
        var k = exponent - fraction.count
        while digits.count > 1, digits.hasPrefix("0") { digits.removeFirst() }
        while digits.count > 1, digits.hasSuffix("0") {
            digits.removeLast()
            k += 1
        }
        let length = digits.count
        let kk = length + k
        let body: String
        if k >= 0, kk <= 16 {
            body = digits + String(repeating: "0", count: k) + ".0"
        } else if kk > 0, kk <= 16 {
            let cut = digits.index(digits.startIndex, offsetBy: kk)
            body = digits[..<cut] + "." + digits[cut...]
        } else if kk > -5, kk <= 0 {
            body = "0." + String(repeating: "0", count: -kk) + digits
        } else if length == 1 {
            body = digits + "e" + String(kk - 1)
        } else {
            body = String(digits.prefix(1)) + "." + digits.dropFirst() + "e" + String(kk - 1)
        }
        return negative ? "-" + body : body
    }
}

/// serde_json's reader over UTF-8 bytes: its recursion limit (128), its errors on lone
/// surrogates and control characters, its integer and float rules.
private struct JsonParser {
    let bytes: [UInt8]
    var index = 0

    init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    func fail(_ what: String) -> Json.ParseError {
        Json.ParseError(description: "\(what) at byte \(index)")
    }

    private var current: UInt8? { index < bytes.count ? bytes[index] : nil }

    mutating func whitespace() {
        while let c = current, c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D { index += 1 }
    }

    mutating func value(depth: Int) throws -> Json {
        if depth > 128 { throw fail("recursion limit exceeded") }
        guard let c = current else { throw fail("EOF while parsing a value") }
        switch c {
        case UInt8(ascii: "{"): return try object(depth: depth)
        case UInt8(ascii: "["): return try array(depth: depth)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "n"): return try literal("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw fail("expected value")
        }
    }

    private mutating func literal(_ word: String, _ value: Json) throws -> Json {
        let w = Array(word.utf8)
        guard index + w.count <= bytes.count, Array(bytes[index ..< index + w.count]) == w else {
            throw fail("expected \(word)")
        }
        index += w.count
        return value
    }

    private mutating func expect(_ byte: Character, or closing: Character, in what: String) throws -> Bool {
        guard let c = current else { throw fail("EOF in \(what)") }
        index += 1
        if c == byte.asciiValue { return false }
        if c == closing.asciiValue { return true }
        index -= 1
        throw fail("expected '\(byte)' or '\(closing)'")
    }

    private mutating func object(depth: Int) throws -> Json {
        index += 1
        var object = JsonObject()
        whitespace()
        if current == UInt8(ascii: "}") {
            index += 1
            return .object(object)
        }
        while true {
            whitespace()
            guard current == UInt8(ascii: "\"") else { throw fail("expected a key") }
            let key = try string()
            whitespace()
            guard current == UInt8(ascii: ":") else { throw fail("expected ':'") }
            index += 1
            whitespace()
            object[key] = try value(depth: depth + 1)
            whitespace()
            if try expect(",", or: "}", in: "an object") { return .object(object) }
        }
    }

    private mutating func array(depth: Int) throws -> Json {
        index += 1
        var items: [Json] = []
        whitespace()
        if current == UInt8(ascii: "]") {
            index += 1
            return .array(items)
        }
        while true {
            whitespace()
            items.append(try value(depth: depth + 1))
            whitespace()
            if try expect(",", or: "]", in: "an array") { return .array(items) }
        }
    }

    private mutating func hex4() throws -> UInt32 {
        guard index + 4 <= bytes.count,
              let text = String(bytes: bytes[index ..< index + 4], encoding: .ascii),
              text.allSatisfy(\.isHexDigit),
              let value = UInt32(text, radix: 16)
        else { throw fail("invalid escape") }
        index += 4
        return value
    }

    private mutating func string() throws -> String {
        index += 1
        var out: [UInt8] = []
        while true {
            guard let c = current else { throw fail("EOF in a string") }
            index += 1
            switch c {
            case UInt8(ascii: "\""):
                return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard let e = current else { throw fail("EOF in a string") }
                index += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var code = try hex4()
                    if (0xD800 ... 0xDBFF).contains(code) {
                        guard index + 2 <= bytes.count, bytes[index] == UInt8(ascii: "\\"),
                              bytes[index + 1] == UInt8(ascii: "u")
                        else { throw fail("lone leading surrogate") }
                        index += 2
                        let low = try hex4()
                        guard (0xDC00 ... 0xDFFF).contains(low) else { throw fail("invalid low surrogate") }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00 ... 0xDFFF).contains(code) {
                        throw fail("lone trailing surrogate")
                    }
                    guard let scalar = Unicode.Scalar(code) else { throw fail("invalid escape") }
                    out.append(contentsOf: Array(String(Character(scalar)).utf8))
                default:
                    throw fail("invalid escape")
                }
            case 0x00 ..< 0x20:
                throw fail("control character in a string")
            default:
                out.append(c)
            }
        }
    }

    private mutating func digits() {
        while let c = current, (UInt8(ascii: "0") ... UInt8(ascii: "9")).contains(c) { index += 1 }
    }

    private func isDigit(_ c: UInt8?) -> Bool {
        c.map { (UInt8(ascii: "0") ... UInt8(ascii: "9")).contains($0) } ?? false
    }

    private mutating func number() throws -> JsonNumber {
        let start = index
        if current == UInt8(ascii: "-") { index += 1 }
        guard let first = current else { throw fail("EOF in a number") }
        if first == UInt8(ascii: "0") {
            index += 1
        } else if isDigit(first) {
            digits()
        } else {
            throw fail("invalid number")
        }
        var isFloat = false
        if current == UInt8(ascii: ".") {
            isFloat = true
            index += 1
            guard isDigit(current) else { throw fail("invalid number") }
            digits()
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            isFloat = true
            index += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
            guard isDigit(current) else { throw fail("invalid number") }
            digits()
        }
        let lexeme = String(decoding: bytes[start ..< index], as: UTF8.self)
        guard let n = JsonNumber(lexeme: lexeme, isFloat: isFloat) else { throw fail("number out of range") }
        return n
    }
}
