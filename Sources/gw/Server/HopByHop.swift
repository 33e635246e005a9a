import NIOHTTP1

/// Hop-by-hop header removal (RFC 9110 §7.6.1). Transfer-Encoding stays: NIO's
/// encoder re-frames the message from it and Content-Length.
enum HopByHop {
    static let names: [String] = ["connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade", "proxy-authenticate"]

    /// Remove hop-by-hop headers and those listed in `Connection`. The common case
    /// (none present) costs one pass over the names with no allocation.
    static func strip(_ headers: inout HTTPHeaders) {
        var found = false
        for (name, _) in headers where isHopByHop(name) {
            found = true
            break
        }
        guard found else { return }
        var listed: [String] = []
        for value in headers[canonicalForm: "connection"] {
            let token = value.lowercased()
            if token != "close" && token != "keep-alive" && token != "transfer-encoding" { listed.append(String(token)) }
        }
        for name in names { headers.remove(name: name) }
        for name in listed { headers.remove(name: name) }
    }

    @inline(__always)
    static func isHopByHop(_ name: String) -> Bool {
        let count = name.utf8.count
        guard count >= 2 && count <= 18 else { return false }
        for candidate in names where candidate.utf8.count == count {
            if asciiEqualsIgnoringCase(name, candidate) { return true }
        }
        return false
    }
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
