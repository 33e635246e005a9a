/// A JSON document for editing and writing back, Foundation-free. Unlike `JSONValue`
/// (made for configs) it loses nothing a rewrite should keep: object members stay in
/// their order and every number keeps its exact text (`12345678901234567890` and
/// `1.10` come out as they went in). It is also strict (RFC 8259): UTF-8 is
/// validated, numbers follow the JSON grammar, and a duplicate key in one object is
/// an error, because two parsers that disagree on which duplicate wins (the first,
/// the last) would let a body say one thing to the gateway and another to the
/// upstream.
///
/// ```swift
/// var body = try JSONNode.parse(bytes)
/// body.set(.string("gw"), at: try JSONPointer("/metadata/source"))
/// let out = body.serialized()   // compact UTF-8
/// ```
public enum JSONNode: Sendable, Equatable {
    case null
    case bool(Bool)
    /// The number's JSON text, exactly as parsed (or as `JSONNode(_:JSONValue)` wrote it).
    case number(String)
    case string(String)
    case array([JSONNode])
    /// Members in document order; keys are unique.
    case object([Member])

    public struct Member: Sendable, Equatable {
        public var key: String
        public var value: JSONNode
        public init(key: String, value: JSONNode) {
            self.key = key
            self.value = value
        }
    }

    /// The default nesting limit of `parse`.
    public static let defaultMaxDepth = 64

    /// Parse one JSON text (surrounding whitespace allowed). Throws for anything that
    /// is not RFC 8259 JSON, for invalid UTF-8, for a duplicate key and for nesting
    /// deeper than `maxDepth`.
    public static func parse(_ bytes: UnsafeRawBufferPointer, maxDepth: Int = defaultMaxDepth) throws(JSONValue.ParseError) -> JSONNode {
        var parser = StrictParser(bytes: bytes, maxDepth: maxDepth)
        let value = try parser.value(depth: 0)
        parser.skipSpace()
        guard parser.index == bytes.count else { throw parser.fail("trailing characters") }
        return value
    }

    public static func parse(_ bytes: [UInt8], maxDepth: Int = defaultMaxDepth) throws(JSONValue.ParseError) -> JSONNode {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(JSONValue.ParseError) in try parse(raw, maxDepth: maxDepth) }
        }
        return try result.get()
    }

    public static func parse(_ text: String, maxDepth: Int = defaultMaxDepth) throws(JSONValue.ParseError) -> JSONNode {
        try parse(Array(text.utf8), maxDepth: maxDepth)
    }

    /// A `JSONValue` as a node: object members in sorted key order, numbers as
    /// `JSONValue.numberText` writes them.
    public init(_ value: JSONValue) {
        switch value {
        case .null: self = .null
        case .bool(let b): self = .bool(b)
        case .number(let n): self = n.isFinite ? .number(JSONValue.numberText(n)) : .null
        case .string(let s): self = .string(s)
        case .array(let items): self = .array(items.map(JSONNode.init))
        case .object(let members):
            self = .object(members.keys.sorted().map { Member(key: $0, value: JSONNode(members[$0]!)) })
        }
    }

    /// The member `key` of an object (nil for a missing key or another kind of node).
    public subscript(key: String) -> JSONNode? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.key == key }?.value
    }

    // MARK: - Output

    /// Compact JSON text (UTF-8), members in order.
    public func serialized() -> [UInt8] {
        var out: [UInt8] = []
        serialize(into: &out)
        return out
    }

    public func serialize(into out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .number(let text): out.append(contentsOf: text.utf8)
        case .string(let s): JSONValue.appendQuoted(s, to: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                item.serialize(into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (i, member) in members.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                JSONValue.appendQuoted(member.key, to: &out)
                out.append(UInt8(ascii: ":"))
                member.value.serialize(into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// Compact JSON text as a `String`.
    public var text: String { String(decoding: serialized(), as: UTF8.self) }

    // MARK: - JSON pointer (RFC 6901) edits

    /// The node `pointer` refers to, or nil. An array index is a decimal without
    /// leading zeros; `-` (past the end) refers to nothing.
    public func value(at pointer: JSONPointer) -> JSONNode? {
        var node = self
        for token in pointer.tokens {
            guard let child = node.child(token) else { return nil }
            node = child
        }
        return node
    }

    /// Put `value` at `pointer`: replace an object member (or add it at the end), an
    /// array element, or append to an array with `-` or an index equal to its count.
    /// Missing parents are created as objects when `createParents` is true (only where
    /// the missing node would be an object member). Returns false, changing nothing,
    /// when the place cannot exist: a parent that is not a container, an array index
    /// out of range, a missing parent without `createParents`. The empty pointer
    /// replaces the whole document.
    @discardableResult
    public mutating func set(_ value: JSONNode, at pointer: JSONPointer, createParents: Bool = true) -> Bool {
        set(value, tokens: pointer.tokens[...], createParents: createParents)
    }

    /// Remove and return the node at `pointer` (an object member or an array element,
    /// later elements move down). Nil, changing nothing, if there is none. The empty
    /// pointer cannot be removed (nil).
    @discardableResult
    public mutating func remove(at pointer: JSONPointer) -> JSONNode? {
        guard !pointer.tokens.isEmpty else { return nil }
        return remove(tokens: pointer.tokens[...])
    }

    private func child(_ token: String) -> JSONNode? {
        switch self {
        case .object(let members):
            return members.first { $0.key == token }?.value
        case .array(let items):
            guard let index = JSONPointer.arrayIndex(token), index < items.count else { return nil }
            return items[index]
        default:
            return nil
        }
    }

    private mutating func set(_ value: JSONNode, tokens: ArraySlice<String>, createParents: Bool) -> Bool {
        guard let token = tokens.first else {
            self = value
            return true
        }
        let rest = tokens.dropFirst()
        switch self {
        case .object(var members):
            // Children are edited in place: `self` lets go of the array first, so the
            // array and the child stay uniquely referenced and nothing is copied.
            self = .null
            defer { self = .object(members) }
            if let i = members.firstIndex(where: { $0.key == token }) {
                var child = members[i].value
                members[i].value = .null
                defer { members[i].value = child }
                return child.set(value, tokens: rest, createParents: createParents)
            }
            var child = value
            if !rest.isEmpty {
                guard createParents else { return false }
                child = .object([])
                guard child.set(value, tokens: rest, createParents: createParents) else { return false }
            }
            members.append(Member(key: token, value: child))
            return true
        case .array(var items):
            let index = token == "-" ? items.count : JSONPointer.arrayIndex(token)
            guard let index, index <= items.count else { return false }
            self = .null
            defer { self = .array(items) }
            if index == items.count {
                guard rest.isEmpty else { return false }
                items.append(value)
                return true
            }
            var child = items[index]
            items[index] = .null
            defer { items[index] = child }
            return child.set(value, tokens: rest, createParents: createParents)
        default:
            return false
        }
    }

    private mutating func remove(tokens: ArraySlice<String>) -> JSONNode? {
        guard let token = tokens.first else { return nil }
        let rest = tokens.dropFirst()
        switch self {
        case .object(var members):
            guard let i = members.firstIndex(where: { $0.key == token }) else { return nil }
            self = .null
            defer { self = .object(members) }
            if rest.isEmpty { return members.remove(at: i).value }
            var child = members[i].value
            members[i].value = .null
            defer { members[i].value = child }
            return child.remove(tokens: rest)
        case .array(var items):
            guard let index = JSONPointer.arrayIndex(token), index < items.count else { return nil }
            self = .null
            defer { self = .array(items) }
            if rest.isEmpty { return items.remove(at: index) }
            var child = items[index]
            items[index] = .null
            defer { items[index] = child }
            return child.remove(tokens: rest)
        default:
            return nil
        }
    }
}

/// A JSON pointer (RFC 6901): `""` is the whole document, `/a/b` member `b` of member
/// `a`, `/items/0` the first element; `~1` stands for `/` and `~0` for `~` in a token.
public struct JSONPointer: Sendable, Equatable, CustomStringConvertible {
    /// The reference tokens, unescaped.
    public let tokens: [String]
    /// The pointer as written.
    public let description: String

    public struct SyntaxError: Error, Sendable, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    public init(_ text: String) throws(SyntaxError) {
        description = text
        guard !text.isEmpty else {
            tokens = []
            return
        }
        guard text.hasPrefix("/") else { throw SyntaxError(message: "a JSON pointer starts with \"/\" (or is empty)") }
        var tokens: [String] = []
        for raw in text.utf8.dropFirst().split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false) {
            var token: [UInt8] = []
            var i = raw.startIndex
            while i < raw.endIndex {
                let c = raw[i]
                if c == UInt8(ascii: "~") {
                    let next = raw.index(after: i)
                    guard next < raw.endIndex, raw[next] == UInt8(ascii: "0") || raw[next] == UInt8(ascii: "1") else {
                        throw SyntaxError(message: "\"~\" must be followed by 0 or 1 (~0 is \"~\", ~1 is \"/\")")
                    }
                    token.append(raw[next] == UInt8(ascii: "0") ? UInt8(ascii: "~") : UInt8(ascii: "/"))
                    i = raw.index(after: next)
                } else {
                    token.append(c)
                    i = raw.index(after: i)
                }
            }
            tokens.append(String(decoding: token, as: UTF8.self))
        }
        self.tokens = tokens
    }

    /// True if `self` is `other` or lies inside it (`/a/b` is inside `/a`).
    public func isWithin(_ other: JSONPointer) -> Bool {
        tokens.count >= other.tokens.count && Array(tokens.prefix(other.tokens.count)) == other.tokens
    }

    /// A token as an array index: decimal digits, no leading zero (except "0" itself).
    static func arrayIndex(_ token: String) -> Int? {
        let utf8 = token.utf8
        guard let first = utf8.first, utf8.count <= 18, utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        guard first != UInt8(ascii: "0") || utf8.count == 1 else { return nil }
        return Int(token)
    }
}

/// RFC 8259 parser behind `JSONNode.parse`.
struct StrictParser {
    let bytes: UnsafeRawBufferPointer
    let maxDepth: Int
    var index = 0

    init(bytes: UnsafeRawBufferPointer, maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    func fail(_ message: String) -> JSONValue.ParseError {
        JSONValue.ParseError(message: message, offset: index)
    }

    mutating func skipSpace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0a, 0x0d: index += 1
            default: return
            }
        }
    }

    mutating func value(depth: Int) throws(JSONValue.ParseError) -> JSONNode {
        guard depth < maxDepth else { throw fail("nested deeper than \(maxDepth) levels") }
        skipSpace()
        guard index < bytes.count else { throw fail("unexpected end") }
        switch bytes[index] {
        case UInt8(ascii: "{"):
            index += 1
            var members: [JSONNode.Member] = []
            var keys = Set<String>()
            skipSpace()
            if index < bytes.count && bytes[index] == UInt8(ascii: "}") {
                index += 1
                return .object(members)
            }
            while true {
                skipSpace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
                let keyStart = index
                let key = try string()
                guard keys.insert(key).inserted else {
                    throw JSONValue.ParseError(message: "duplicate key \(JSONValue.quote(key))", offset: keyStart)
                }
                skipSpace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                index += 1
                members.append(JSONNode.Member(key: key, value: try value(depth: depth + 1)))
                skipSpace()
                guard index < bytes.count else { throw fail("unexpected end") }
                if bytes[index] == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                if bytes[index] == UInt8(ascii: "}") {
                    index += 1
                    return .object(members)
                }
                throw fail("expected ',' or '}'")
            }
        case UInt8(ascii: "["):
            index += 1
            var items: [JSONNode] = []
            skipSpace()
            if index < bytes.count && bytes[index] == UInt8(ascii: "]") {
                index += 1
                return .array(items)
            }
            while true {
                items.append(try value(depth: depth + 1))
                skipSpace()
                guard index < bytes.count else { throw fail("unexpected end") }
                if bytes[index] == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                if bytes[index] == UInt8(ascii: "]") {
                    index += 1
                    return .array(items)
                }
                throw fail("expected ',' or ']'")
            }
        case UInt8(ascii: "\""):
            return .string(try string())
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "n"): return try literal("null", .null)
        default:
            return try number()
        }
    }

    mutating func literal(_ word: StaticString, _ value: JSONNode) throws(JSONValue.ParseError) -> JSONNode {
        let start = index
        for i in 0..<word.utf8CodeUnitCount {
            guard index < bytes.count, bytes[index] == word.utf8Start[i] else {
                throw JSONValue.ParseError(message: "invalid literal", offset: start)
            }
            index += 1
        }
        return value
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    mutating func number() throws(JSONValue.ParseError) -> JSONNode {
        let start = index
        func isDigit(_ i: Int) -> Bool { i < bytes.count && bytes[i] >= 0x30 && bytes[i] <= 0x39 }
        if index < bytes.count && bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard isDigit(index) else { throw JSONValue.ParseError(message: "invalid value", offset: start) }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
            if isDigit(index) { throw fail("leading zero in a number") }
        } else {
            while isDigit(index) { index += 1 }
        }
        if index < bytes.count && bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard isDigit(index) else { throw fail("expected a digit after '.'") }
            while isDigit(index) { index += 1 }
        }
        if index < bytes.count && (bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E")) {
            index += 1
            if index < bytes.count && (bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-")) { index += 1 }
            guard isDigit(index) else { throw fail("expected a digit in the exponent") }
            while isDigit(index) { index += 1 }
        }
        return .number(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self))
    }

    /// A string literal; `index` is at the opening quote. The result is validated UTF-8.
    mutating func string() throws(JSONValue.ParseError) -> String {
        index += 1
        let start = index
        // Fast path: no escapes.
        while index < bytes.count {
            let c = bytes[index]
            if c == UInt8(ascii: "\"") {
                let raw = UnsafeRawBufferPointer(rebasing: bytes[start..<index])
                guard let text = String(validating: raw, as: UTF8.self) else {
                    throw JSONValue.ParseError(message: "invalid UTF-8 in a string", offset: start)
                }
                index += 1
                return text
            }
            if c == UInt8(ascii: "\\") { break }
            guard c >= 0x20 else { throw fail("control character in a string") }
            index += 1
        }
        var out = [UInt8](UnsafeRawBufferPointer(rebasing: bytes[start..<index]))
        while index < bytes.count {
            let c = bytes[index]
            index += 1
            switch c {
            case UInt8(ascii: "\""):
                guard let text = String(validating: out, as: UTF8.self) else {
                    throw JSONValue.ParseError(message: "invalid UTF-8 in a string", offset: start)
                }
                return text
            case UInt8(ascii: "\\"):
                try JSONEscape.decode(bytes, &index, into: &out)
            default:
                guard c >= 0x20 else { throw fail("control character in a string") }
                out.append(c)
            }
        }
        throw fail("unterminated string")
    }
}
