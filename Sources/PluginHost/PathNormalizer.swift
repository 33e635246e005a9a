/// The path a request is routed and forwarded by (`normalize_paths`, on by default):
/// percent-encoded unreserved characters decoded (`%2e` is a dot, `%7E` a tilde; other
/// escapes kept, their hex digits upper-cased), runs of slashes merged, and `.` and `..`
/// segments resolved (RFC 3986 §6.2.2, §5.2.4). Routes, and the filters on them, then
/// see the path an upstream that normalises would serve: `/public/../admin` cannot
/// reach `/admin` through a route with weaker filters, nor `//admin` or `/%61dmin`.
/// An encoded slash (`%2F`) or backslash (`%5C`) is not a separator and stays encoded;
/// a raw backslash is refused (some servers read it as a slash). The query is left as
/// sent. gw applies it to the received target, to a route's rewrite and to a path a
/// filter sets.
public enum PathNormalizer {
    /// What an encoded slash (`%2F`) or backslash (`%5C`) in a path gets (`encoded_slashes`).
    public enum EncodedSlashes: String, Sendable, CaseIterable {
        /// Left encoded, not a separator (the default): APIs that carry `a%2Fb` in a
        /// segment keep working.
        case keep
        /// 400 `bad_path`: for upstreams that decode `%2F` into a separator (Tomcat with
        /// `ALLOW_ENCODED_SLASH`, some proxies), which would otherwise see a path the
        /// routes did not.
        case reject
    }

    public enum Failure: Error, Equatable, Sendable {
        /// A `%` not followed by two hex digits.
        case badEscape
        /// More `..` segments than segments before them.
        case aboveRoot
        /// A raw `\` in the path.
        case backslash
        /// `%2F` or `%5C` with `encoded_slashes: reject`.
        case encodedSlash
        /// A `.` or `..` segment with parameters (`..;x`, `.;x`, also with `;` as `%3B`):
        /// servlet containers (Tomcat, Jetty) strip the parameters and resolve the dot
        /// segment, so `/public/..;/admin` is `/admin` to them.
        case dotSegmentParameters

        public var message: String {
            switch self {
            case .badEscape: return "malformed percent-encoding in the request path"
            case .aboveRoot: return "the request path climbs above the root (\"..\")"
            case .backslash: return "a backslash in the request path"
            case .encodedSlash: return "an encoded slash (%2F or %5C) in the request path"
            case .dotSegmentParameters: return "a dot segment with parameters (\"..;\") in the request path"
            }
        }
    }

    /// `target` normalised, or nil when it already is (most requests: one scan of the
    /// path, no allocation). Only origin-form targets (starting with `/`) are touched.
    @inlinable
    public static func normalize(_ target: String, encodedSlashes: EncodedSlashes = .keep) throws(Failure) -> String? {
        guard needsWork(target.utf8) else { return nil }
        return try normalizeSlowly(target, encodedSlashes: encodedSlashes)
    }

    /// An origin-form path with a `%`, a backslash, two slashes in a row, or a slash
    /// followed by a dot (a dot segment, or a name such as `.well-known` that the slow
    /// path keeps).
    @inlinable @inline(__always)
    static func needsWork(_ utf8: String.UTF8View) -> Bool {
        var bytes = utf8.makeIterator()
        guard bytes.next() == UInt8(ascii: "/") else { return false }
        var previousSlash = true
        while let byte = bytes.next() {
            if byte == UInt8(ascii: "?") { return false }
            if byte == UInt8(ascii: "%") || byte == UInt8(ascii: "\\") { return true }
            if previousSlash && (byte == UInt8(ascii: "/") || byte == UInt8(ascii: ".")) { return true }
            previousSlash = byte == UInt8(ascii: "/")
        }
        return false
    }

    @inline(never) @usableFromInline
    static func normalizeSlowly(_ target: String, encodedSlashes: EncodedSlashes) throws(Failure) -> String? {
        let bytes = Array(target.utf8)
        let pathEnd = bytes.firstIndex(of: UInt8(ascii: "?")) ?? bytes.count
        var out = try bytes.withUnsafeBufferPointer { all throws(Failure) in
            try normalizedPath(UnsafeBufferPointer(rebasing: all[..<pathEnd]), encodedSlashes: encodedSlashes)
        }
        out.append(contentsOf: bytes[pathEnd...])
        return out == bytes ? nil : String(decoding: out, as: UTF8.self)
    }

    private static func normalizedPath(_ path: UnsafeBufferPointer<UInt8>, encodedSlashes: EncodedSlashes) throws(Failure) -> [UInt8] {
        // 1. Decode what never needed encoding; upper-case the hex of what stays encoded.
        var decoded: [UInt8] = []
        decoded.reserveCapacity(path.count)
        var i = 0
        while i < path.count {
            let byte = path[i]
            if byte == UInt8(ascii: "\\") { throw .backslash }
            guard byte == UInt8(ascii: "%") else {
                decoded.append(byte)
                i += 1
                continue
            }
            guard i + 2 < path.count, let high = hexDigitValue(path[i + 1]), let low = hexDigitValue(path[i + 2]) else { throw .badEscape }
            let value = high << 4 | low
            if encodedSlashes == .reject && (value == UInt8(ascii: "/") || value == UInt8(ascii: "\\")) { throw .encodedSlash }
            if isUnreserved(value) {
                decoded.append(value)
            } else {
                decoded.append(UInt8(ascii: "%"))
                decoded.append(hexDigit(high))
                decoded.append(hexDigit(low))
            }
            i += 3
        }
        // 2. Segments between slashes (empty ones dropped: `//` is `/`), dot segments resolved.
        var segments: [ArraySlice<UInt8>] = []
        var endsWithSlash = decoded.last == UInt8(ascii: "/")
        for segment in decoded.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true) {
            if isDotSegmentWithParameters(segment) { throw .dotSegmentParameters }
            if segment.elementsEqual([UInt8(ascii: ".")]) {
                endsWithSlash = true
            } else if segment.elementsEqual([UInt8(ascii: "."), UInt8(ascii: ".")]) {
                guard segments.popLast() != nil else { throw .aboveRoot }
                endsWithSlash = true
            } else {
                segments.append(segment)
                endsWithSlash = false
            }
        }
        if decoded.last == UInt8(ascii: "/") { endsWithSlash = true }
        var out: [UInt8] = [UInt8(ascii: "/")]
        out.reserveCapacity(decoded.count)
        for (n, segment) in segments.enumerated() {
            if n > 0 { out.append(UInt8(ascii: "/")) }
            out.append(contentsOf: segment)
        }
        if endsWithSlash && !segments.isEmpty { out.append(UInt8(ascii: "/")) }
        return out
    }

    /// `.` or `..` followed by `;` or `%3B` (escapes are upper-cased by then).
    private static func isDotSegmentWithParameters(_ segment: ArraySlice<UInt8>) -> Bool {
        var rest = segment[...]
        guard rest.first == UInt8(ascii: ".") else { return false }
        rest = rest.dropFirst()
        if rest.first == UInt8(ascii: ".") { rest = rest.dropFirst() }
        return rest.first == UInt8(ascii: ";") || rest.starts(with: [UInt8(ascii: "%"), UInt8(ascii: "3"), UInt8(ascii: "B")])
    }

    /// RFC 3986 §2.3: ALPHA / DIGIT / "-" / "." / "_" / "~".
    private static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    private static func hexDigit(_ value: UInt8) -> UInt8 {
        value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "A") + value - 10
    }
}
