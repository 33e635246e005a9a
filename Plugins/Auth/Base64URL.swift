/// Strict base64url (RFC 4648 §5) as JWS uses it (RFC 7515 §2): the URL-safe
/// alphabet only, no padding, no whitespace, and the unused low bits of the last
/// character zero, so every byte string has exactly one accepted encoding.
enum Base64URL {
    static func decode(_ input: UnsafeRawBufferPointer) -> [UInt8]? {
        guard input.count % 4 != 1 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(input.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        for c in input {
            guard let value = sextet(c) else { return nil }
            accumulator = (accumulator << 6 | value) & 0xff_ffff
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        // 2 or 4 bits left over: they must be zero (non-canonical encodings are refused).
        guard bits == 0 || accumulator & ((1 << UInt32(bits)) - 1) == 0 else { return nil }
        return out
    }

    static func decode(_ text: String) -> [UInt8]? {
        var copy = text
        return copy.withUTF8 { decode(UnsafeRawBufferPointer($0)) }
    }

    @inline(__always)
    static func sextet(_ c: UInt8) -> UInt32? {
        switch c {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): return UInt32(c - UInt8(ascii: "A"))
        case UInt8(ascii: "a")...UInt8(ascii: "z"): return UInt32(c - UInt8(ascii: "a")) + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(c - UInt8(ascii: "0")) + 52
        case UInt8(ascii: "-"): return 62
        case UInt8(ascii: "_"): return 63
        default: return nil
        }
    }

    /// True if `c` is in the base64url alphabet.
    @inline(__always)
    static func isAlphabet(_ c: UInt8) -> Bool { sextet(c) != nil }
}
