import NIOHTTP1

/// Hop-by-hop header removal (RFC 9110 §7.6.1). Transfer-Encoding stays: the
/// writers re-frame the message from it and Content-Length (`HTTP1Framing`).
enum HopByHop {
    static let names: [String] = ["connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade", "proxy-authenticate"]

    /// Remove hop-by-hop headers and those listed in `Connection`. One pass finds
    /// which hop-by-hop names are present (a bit each); only those are removed, and
    /// `Connection` tokens become strings only when they name another header. The
    /// common cases (none present, or `Connection: keep-alive`) allocate nothing
    /// beyond the header array's own copy-on-write.
    /// Returns true if it removed a header that `Connection` named (any other header
    /// may then be gone too).
    @discardableResult
    static func strip(_ headers: inout HTTPHeaders) -> Bool {
        var present: UInt8 = 0
        var listed: [String] = []
        for (name, value) in headers {
            guard let index = hopByHopIndex(name) else { continue }
            present |= 1 << UInt8(index)
            if index == 0 { collectListed(value, into: &listed) }
        }
        guard present != 0 else { return false }
        for index in 0..<names.count where present & (1 << UInt8(index)) != 0 {
            headers.remove(name: names[index])
        }
        var removedListed = false
        for name in listed where !isHopByHop(name) {
            headers.remove(name: name)
            removedListed = true
        }
        return removedListed
    }

    /// The headers a proxy must not pass on, found without changing the message:
    /// for writing a head while leaving those lines out (see
    /// `DownstreamHandler.writeResponseHead`), which copies nothing.
    struct Dropped {
        /// Header names listed in `Connection` (lowercased), besides the fixed ones.
        var listed: [String] = []

        init(_ headers: HTTPHeaders) {
            for (name, value) in headers where name.utf8.count == 10 && asciiEqualsIgnoringCase(name, "connection") {
                HopByHop.collectListed(value, into: &listed)
            }
        }

        func contains(_ name: String) -> Bool {
            if HopByHop.isHopByHop(name) { return true }
            return !listed.isEmpty && listed.contains { asciiEqualsIgnoringCase(name, $0) }
        }
    }

    /// Tokens of a `Connection` value other than close, keep-alive,
    /// transfer-encoding and content-length, lowercased.
    private static func collectListed(_ value: String, into listed: inout [String]) {
        forEachListElement(value) { token in
            // The framing headers are never dropped on a Connection's word: the body
            // would be left without a length (a desync on a reused connection).
            if !bytesEqualIgnoringCase(token, "close") && !bytesEqualIgnoringCase(token, "keep-alive")
                && !bytesEqualIgnoringCase(token, "transfer-encoding") && !bytesEqualIgnoringCase(token, "content-length")
            {
                listed.append(String(decoding: token, as: UTF8.self).lowercased())
            }
        }
    }

    @inline(__always)
    static func isHopByHop(_ name: String) -> Bool { hopByHopIndex(name) != nil }

    /// The index in `names` of a hop-by-hop header name, compared without case.
    @inline(__always)
    static func hopByHopIndex(_ name: String) -> Int? {
        // By length first: most names are none of these lengths, and each length has one or two candidates.
        switch name.utf8.count {
        case 2: return asciiEqualsIgnoringCase(name, "te") ? 3 : nil
        case 7:
            if asciiEqualsIgnoringCase(name, "trailer") { return 4 }
            return asciiEqualsIgnoringCase(name, "upgrade") ? 5 : nil
        case 10:
            if asciiEqualsIgnoringCase(name, "connection") { return 0 }
            return asciiEqualsIgnoringCase(name, "keep-alive") ? 1 : nil
        case 16: return asciiEqualsIgnoringCase(name, "proxy-connection") ? 2 : nil
        case 18: return asciiEqualsIgnoringCase(name, "proxy-authenticate") ? 6 : nil
        default: return nil
        }
    }
}

/// Each non-empty element of a comma-separated header value (RFC 9110 §5.6.1), with
/// the optional whitespace around it trimmed; no allocation.
func forEachListElement(_ value: String, _ body: (Substring.UTF8View) -> Void) {
    let utf8 = value.utf8
    var index = utf8.startIndex
    while index < utf8.endIndex {
        var end = index
        while end < utf8.endIndex, utf8[end] != UInt8(ascii: ",") { end = utf8.index(after: end) }
        var first = index
        var last = end
        while first < last, utf8[first] == 32 || utf8[first] == 9 { first = utf8.index(after: first) }
        while last > first, utf8[utf8.index(before: last)] == 32 || utf8[utf8.index(before: last)] == 9 {
            last = utf8.index(before: last)
        }
        if first < last { body(Substring(value)[first..<last].utf8) }
        index = end < utf8.endIndex ? utf8.index(after: end) : end
    }
}

/// ASCII case-insensitive equality of raw bytes with `lower` (already lowercase).
@inline(__always)
func bytesEqualIgnoringCase(_ bytes: Substring.UTF8View, _ lower: StaticString) -> Bool {
    guard bytes.count == lower.utf8CodeUnitCount else { return false }
    var i = 0
    for byte in bytes {
        let folded = (byte >= 65 && byte <= 90) ? byte + 32 : byte
        if folded != lower.utf8Start[i] { return false }
        i += 1
    }
    return true
}

/// ASCII case-insensitive equality; `lower` must already be lowercase.
@inline(__always)
func asciiEqualsIgnoringCase(_ value: String, _ lower: String) -> Bool {
    var a = value.utf8.makeIterator()
    var b = lower.utf8.makeIterator()
    while true {
        switch (a.next(), b.next()) {
        case (nil, nil): return true
        case (let x?, let y?):
            let folded = (x >= 65 && x <= 90) ? x + 32 : x
            if folded != y { return false }
        default: return false
        }
    }
}
