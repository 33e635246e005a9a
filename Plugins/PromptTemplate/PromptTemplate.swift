/// One message's content: literal text and `{{name}}` placeholders, parsed once at
/// config time. Rendering concatenates the literal parts with the values given for
/// the placeholders; the result is never scanned again, so a value that contains
/// `{{other}}` stays literal text.
struct PromptTemplate: Sendable, Equatable {
    enum Part: Sendable, Equatable {
        case text(String)
        case variable(String)
    }

    let parts: [Part]

    /// The names of the placeholders, in order of first use.
    var variables: [String] {
        var seen: [String] = []
        for case .variable(let name) in parts where !seen.contains(name) { seen.append(name) }
        return seen
    }

    struct SyntaxError: Error, Equatable {
        let message: String
    }

    /// Parse `text`. A placeholder is `{{name}}` (spaces inside the braces allowed),
    /// where a name is ASCII letters, digits and `_`, not starting with a digit.
    /// Every `{{` starts a placeholder; single braces are plain text.
    static func parse(_ text: String) throws(SyntaxError) -> PromptTemplate {
        let bytes = Array(text.utf8)
        var parts: [Part] = []
        var literalStart = 0
        var i = 0
        while i + 1 < bytes.count {
            guard bytes[i] == UInt8(ascii: "{"), bytes[i + 1] == UInt8(ascii: "{") else {
                i += 1
                continue
            }
            guard let close = find("}}", in: bytes, from: i + 2) else {
                throw SyntaxError(message: "unclosed placeholder at byte \(i): \"{{\" without a matching \"}}\"")
            }
            let inner = String(decoding: bytes[(i + 2)..<close], as: UTF8.self)
            let name = trimSpaces(inner)
            guard isValidName(name) else {
                throw SyntaxError(
                    message: "invalid placeholder \"{{\(inner)}}\": a name is letters, digits and _, not starting with a digit")
            }
            if literalStart < i { parts.append(.text(String(decoding: bytes[literalStart..<i], as: UTF8.self))) }
            parts.append(.variable(name))
            i = close + 2
            literalStart = i
        }
        if literalStart < bytes.count { parts.append(.text(String(decoding: bytes[literalStart...], as: UTF8.self))) }
        return PromptTemplate(parts: parts)
    }

    /// The text with each placeholder replaced by `values[name]` ("" if absent).
    func render(_ values: [String: String]) -> String {
        var out = ""
        for part in parts {
            switch part {
            case .text(let text): out += text
            case .variable(let name): out += values[name] ?? ""
            }
        }
        return out
    }

    /// ASCII letters, digits and `_`, not starting with a digit, 1 to 64 bytes.
    static func isValidName(_ name: String) -> Bool {
        let utf8 = name.utf8
        guard let first = utf8.first, utf8.count <= 64, !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else {
            return false
        }
        return utf8.allSatisfy { c in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(c) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(c)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) || c == UInt8(ascii: "_")
        }
    }

    private static func find(_ needle: StaticString, in bytes: [UInt8], from start: Int) -> Int? {
        let a = needle.utf8Start[0]
        let b = needle.utf8Start[1]
        var i = start
        while i + 1 < bytes.count {
            if bytes[i] == a && bytes[i + 1] == b { return i }
            i += 1
        }
        return nil
    }

    private static func trimSpaces(_ text: String) -> String {
        var utf8 = Substring(text).utf8
        while let c = utf8.first, c == 0x20 || c == 0x09 { utf8 = utf8.dropFirst() }
        while let c = utf8.last, c == 0x20 || c == 0x09 { utf8 = utf8.dropLast() }
        return String(Substring(utf8))
    }
}
