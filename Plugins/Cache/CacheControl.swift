/// The `Cache-Control` directives the cache acts on (RFC 9111 §5.2), parsed leniently:
/// unknown directives are ignored, names are case-insensitive, values may be tokens or
/// quoted strings. A `max-age` or `s-maxage` that is not a plain number counts as 0
/// (stale), and a directive given twice takes the smaller value, as §4.2.1 allows.
struct CacheControl: Equatable {
    var noStore = false
    var noCache = false
    var isPrivate = false
    var isPublic = false
    var mustRevalidate = false
    var proxyRevalidate = false
    /// Seconds, saturated at 2^31 (§1.2.2).
    var maxAge: Int64?
    var sMaxAge: Int64?

    static let maxDelta: Int64 = 2_147_483_648

    init() {}

    /// Parse every value of the header (several header lines combine as a list).
    init(_ values: [String]) {
        for value in values {
            var copy = value
            copy.withUTF8 { parse(UnsafeRawBufferPointer($0)) }
        }
    }

    private mutating func parse(_ bytes: UnsafeRawBufferPointer) {
        var i = 0
        let n = bytes.count
        while i < n {
            // Skip separators and whitespace before a directive.
            while i < n && (bytes[i] == 0x2C || bytes[i] == 0x20 || bytes[i] == 0x09) { i += 1 }
            let nameStart = i
            while i < n && bytes[i] != 0x3D && bytes[i] != 0x2C { i += 1 }
            var nameEnd = i
            while nameEnd > nameStart && (bytes[nameEnd - 1] == 0x20 || bytes[nameEnd - 1] == 0x09) { nameEnd -= 1 }
            var value: UnsafeRawBufferPointer?
            if i < n && bytes[i] == 0x3D {
                i += 1
                while i < n && (bytes[i] == 0x20 || bytes[i] == 0x09) { i += 1 }
                if i < n && bytes[i] == 0x22 {
                    // Quoted string: up to the closing quote, honouring backslash escapes.
                    i += 1
                    let start = i
                    while i < n && bytes[i] != 0x22 {
                        if bytes[i] == 0x5C { i += 1 }
                        i += 1
                    }
                    value = UnsafeRawBufferPointer(rebasing: bytes[start..<min(i, n)])
                    if i < n { i += 1 }
                    while i < n && bytes[i] != 0x2C { i += 1 }
                } else {
                    let start = i
                    while i < n && bytes[i] != 0x2C { i += 1 }
                    var end = i
                    while end > start && (bytes[end - 1] == 0x20 || bytes[end - 1] == 0x09) { end -= 1 }
                    value = UnsafeRawBufferPointer(rebasing: bytes[start..<end])
                }
            }
            apply(UnsafeRawBufferPointer(rebasing: bytes[nameStart..<nameEnd]), value)
        }
    }

    private mutating func apply(_ name: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer?) {
        if Self.equals(name, "no-store") {
            noStore = true
        } else if Self.equals(name, "no-cache") {
            // A qualified no-cache="field" is treated as the unqualified form (conservative).
            noCache = true
        } else if Self.equals(name, "private") {
            isPrivate = true
        } else if Self.equals(name, "public") {
            isPublic = true
        } else if Self.equals(name, "must-revalidate") {
            mustRevalidate = true
        } else if Self.equals(name, "proxy-revalidate") {
            proxyRevalidate = true
        } else if Self.equals(name, "max-age") {
            maxAge = Self.smaller(maxAge, Self.deltaSeconds(value))
        } else if Self.equals(name, "s-maxage") {
            sMaxAge = Self.smaller(sMaxAge, Self.deltaSeconds(value))
        }
    }

    private static func smaller(_ a: Int64?, _ b: Int64) -> Int64 {
        a.map { min($0, b) } ?? b
    }

    /// delta-seconds: 1*DIGIT, saturated; anything else (missing, signed, garbage) is 0.
    static func deltaSeconds(_ value: UnsafeRawBufferPointer?) -> Int64 {
        guard let value, !value.isEmpty else { return 0 }
        var result: Int64 = 0
        for c in value {
            guard c >= 0x30 && c <= 0x39 else { return 0 }
            result = min(result * 10 + Int64(c - 0x30), maxDelta)
        }
        return result
    }

    /// ASCII case-insensitive comparison with a lowercase literal.
    static func equals(_ bytes: UnsafeRawBufferPointer, _ lower: StaticString) -> Bool {
        guard bytes.count == lower.utf8CodeUnitCount else { return false }
        let expected = UnsafeRawBufferPointer(start: lower.utf8Start, count: lower.utf8CodeUnitCount)
        for i in 0..<bytes.count {
            var c = bytes[i]
            if c >= 65 && c <= 90 { c += 32 }
            if c != expected[i] { return false }
        }
        return true
    }
}
