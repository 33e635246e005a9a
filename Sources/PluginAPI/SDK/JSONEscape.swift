/// The escape sequences of JSON strings, shared by the SDK's two parsers
/// (`JSONValue` and `JSONNode`).
enum JSONEscape {
    /// Decode the escape whose backslash was just consumed (`bytes[index]` is the
    /// letter after it), appending the UTF-8 to `out` and advancing `index`.
    static func decode(_ bytes: UnsafeRawBufferPointer, _ index: inout Int, into out: inout [UInt8]) throws(JSONValue.ParseError) {
        func fail(_ message: String) -> JSONValue.ParseError { JSONValue.ParseError(message: message, offset: index) }
        guard index < bytes.count else { throw fail("unterminated escape") }
        let e = bytes[index]
        index += 1
        switch e {
        case UInt8(ascii: "\""): out.append(0x22)
        case UInt8(ascii: "\\"): out.append(0x5c)
        case UInt8(ascii: "/"): out.append(0x2f)
        case UInt8(ascii: "b"): out.append(0x08)
        case UInt8(ascii: "f"): out.append(0x0c)
        case UInt8(ascii: "n"): out.append(0x0a)
        case UInt8(ascii: "r"): out.append(0x0d)
        case UInt8(ascii: "t"): out.append(0x09)
        case UInt8(ascii: "u"):
            var scalar = try hex4(bytes, &index)
            if (0xD800..<0xDC00).contains(scalar) {
                guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                    throw fail("lone surrogate")
                }
                index += 2
                let low = try hex4(bytes, &index)
                guard (0xDC00..<0xE000).contains(low) else { throw fail("invalid surrogate pair") }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            }
            guard let u = Unicode.Scalar(scalar) else { throw fail("invalid \\u escape") }
            out.append(contentsOf: String(Character(u)).utf8)
        default: throw fail("invalid escape")
        }
    }

    static func hex4(_ bytes: UnsafeRawBufferPointer, _ index: inout Int) throws(JSONValue.ParseError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw JSONValue.ParseError(message: "short \\u escape", offset: index) }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[index]
            index += 1
            value <<= 4
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value |= UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): value |= UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): value |= UInt32(c - UInt8(ascii: "A") + 10)
            default: throw JSONValue.ParseError(message: "invalid hex digit", offset: index - 1)
            }
        }
        return value
    }
}
