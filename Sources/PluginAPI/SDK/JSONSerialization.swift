/// Foundation-free JSON output for `JSONValue`: compact (no spaces), object members in
/// sorted key order (the same text for the same value on every run: `JSONValue`
/// objects are dictionaries, which have no order of their own), strings escaped as
/// `JSONValue.quote` does.
extension JSONValue {
    /// The value as compact JSON text.
    public func serialized() -> String {
        var out: [UInt8] = []
        serialize(into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Append the value as compact JSON text (UTF-8) to `out`.
    public func serialize(into out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .number(let n): out.append(contentsOf: JSONValue.numberText(n).utf8)
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
            for (i, key) in members.keys.sorted().enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                JSONValue.appendQuoted(key, to: &out)
                out.append(UInt8(ascii: ":"))
                members[key]!.serialize(into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// A number as JSON text: whole numbers up to 2^53 without a fraction (`5`, not
    /// `5.0`), others in Swift's shortest round-tripping form (`0.1`, `1e+100`).
    /// JSON has no NaN or infinity: those become `null`.
    public static func numberText(_ n: Double) -> String {
        guard n.isFinite else { return "null" }
        if n == n.rounded(), n.magnitude <= 9_007_199_254_740_992 {
            return n == 0 ? "0" : String(Int64(n))
        }
        return String(n)
    }

    /// Append `text` as a JSON string literal (quotes included) to `out`: `"`, `\` and
    /// control characters escaped, everything else (non-ASCII included) kept as UTF-8.
    public static func appendQuoted(_ text: String, to out: inout [UInt8]) {
        let hex: StaticString = "0123456789abcdef"
        out.append(UInt8(ascii: "\""))
        for c in text.utf8 {
            switch c {
            case UInt8(ascii: "\""): out += [0x5c, 0x22]
            case UInt8(ascii: "\\"): out += [0x5c, 0x5c]
            case 0x0a: out += [0x5c, UInt8(ascii: "n")]
            case 0x0d: out += [0x5c, UInt8(ascii: "r")]
            case 0x09: out += [0x5c, UInt8(ascii: "t")]
            case 0x08: out += [0x5c, UInt8(ascii: "b")]
            case 0x0c: out += [0x5c, UInt8(ascii: "f")]
            case 0..<0x20:
                out += [0x5c, UInt8(ascii: "u"), 0x30, 0x30, hex.utf8Start[Int(c >> 4)], hex.utf8Start[Int(c & 0xf)]]
            default: out.append(c)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
