import NIOHTTP1
import PluginHost

/// What the proxy needs from a request's headers, found in ONE pass: the limits
/// check, body detection, the expectation, the request id, routing and the
/// forwarding headers each used to search the header list again (about ten
/// case-insensitive scans per request). Made from the received bytes (strings only
/// for the values kept) or, after a filter or a `Connection`-listed removal changed
/// the headers, from NIO's type.
struct RequestHeadScan {
    var headerBytes = 0
    var contentLength: String?
    var hasTransferEncoding = false
    var expect: String?
    var requestID: String?
    var host: String?
    /// Host lines seen (RFC 9112 §3.2: exactly one in HTTP/1.1), and whether the first
    /// one's value is a host[:port] (`isValidHost`).
    var hostLines = 0
    var hostIsValid = true
    /// Every x-forwarded-for value, joined with ", " (a list split over lines is one list).
    var forwardedFor: String?
    var hasForwardedProto = false
    var hasForwardedHost = false
    /// The peer is one of its listener's `trusted_proxies`: the client's
    /// x-forwarded-proto and x-forwarded-host go upstream as sent. From any other peer
    /// gw writes its own instead (a client must not choose the host or scheme an
    /// upstream builds its links from). x-forwarded-for is extended either way.
    var trustsForwarded = false
    /// The client's x-forwarded-proto goes upstream (instead of gw's own).
    var keepsForwardedProto: Bool { trustsForwarded && hasForwardedProto }
    /// The client's x-forwarded-host goes upstream (gw adds one from Host otherwise).
    var keepsForwardedHost: Bool { trustsForwarded && hasForwardedHost }
    /// `Connection` names a field besides close, keep-alive and the framing headers:
    /// that field is hop-by-hop too (only `HopByHop.strip` removes it).
    var connectionListsOthers = false

    /// The scan of a head as NIO's type (after `HopByHop.strip` changed it), by the
    /// same rules as a received head's (`note`).
    init(_ headers: HTTPHeaders, trustsForwarded: Bool) {
        var scan = RequestHeadScan()
        scan.trustsForwarded = trustsForwarded
        for (name, value) in headers {
            var name = name
            var value = value
            name.withUTF8 { name in value.withUTF8 { scan.note(UnsafeRawBufferPointer(name), UnsafeRawBufferPointer($0)) } }
        }
        self = scan
    }

    private init() {}

    /// The scan of a received head. A function, not an initializer, and the scan is
    /// passed to the walk, not captured by its closure: an initializer capturing
    /// `self`, or a captured local returned, was copied and both copies destroyed
    /// (about 230 instructions).
    static func of(_ head: ReceivedRequestHead, trustsForwarded: Bool) -> RequestHeadScan {
        var scan = RequestHeadScan()
        scan.trustsForwarded = trustsForwarded
        head.forEachField(into: &scan) { scan, name, value in scan.note(name, value) }
        return scan
    }

    private mutating func note(_ name: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) {
        headerBytes += name.count + value.count
        switch name.count {
        case 4:
            if equalBytesIgnoringCase(name, "host") {
                hostLines += 1
                if host == nil {
                    // Optional whitespace around a field value is not part of it (RFC 9112 §5).
                    let trimmed = trimmingWhitespace(value)
                    host = String(decoding: trimmed, as: UTF8.self)
                    hostIsValid = Self.isValidHost(trimmed)
                }
            }
        case 6:
            if expect == nil && equalBytesIgnoringCase(name, "expect") { expect = String(decoding: value, as: UTF8.self) }
        case 10:
            if equalBytesIgnoringCase(name, "connection") { noteConnection(value) }
        case 12:
            if requestID == nil && equalBytesIgnoringCase(name, "x-request-id") { requestID = String(decoding: value, as: UTF8.self) }
        case 14:
            if contentLength == nil && equalBytesIgnoringCase(name, "content-length") {
                contentLength = String(decoding: value, as: UTF8.self)
            }
        case 15:
            if equalBytesIgnoringCase(name, "x-forwarded-for") { addForwardedFor(String(decoding: value, as: UTF8.self)) }
        case 16:
            if equalBytesIgnoringCase(name, "x-forwarded-host") { hasForwardedHost = true }
        case 17:
            if equalBytesIgnoringCase(name, "x-forwarded-proto") {
                hasForwardedProto = true
            } else if equalBytesIgnoringCase(name, "transfer-encoding") {
                hasTransferEncoding = true
            }
        default:
            break
        }
    }

    private mutating func addForwardedFor(_ value: String) {
        if let existing = forwardedFor { forwardedFor = existing + ", " + value } else { forwardedFor = value }
    }

    /// The same tokens `HopByHop.strip` acts on.
    private mutating func noteConnection(_ value: UnsafeRawBufferPointer) {
        forEachElement(value) { token in
            if !equalBytesIgnoringCase(token, "close") && !equalBytesIgnoringCase(token, "keep-alive")
                && !equalBytesIgnoringCase(token, "transfer-encoding") && !equalBytesIgnoringCase(token, "content-length")
                && !equalBytesIgnoringCase(token, "connection") && !isFixedHopByHopName(token)
            {
                connectionListsOthers = true
            }
        }
    }

    /// The request announced a body (Content-Length other than 0, or Transfer-Encoding).
    var hasBody: Bool {
        if let contentLength { return contentLength != "0" }
        return hasTransferEncoding
    }

    /// `Expect: 100-continue`, which gw answers itself (and does not forward).
    var expectsContinue: Bool {
        if let expect { return asciiEqualsIgnoringCase(expect, "100-continue") }
        return false
    }
}

/// What writing a head kept as lines needs of its scan (`RequestHeadBytes.writeUpstreamHead`):
/// three flags, so the exchange keeps them instead of the scan and its strings (a
/// stored scan was copied, retains and all, when the head went upstream).
struct LinesFraming {
    let hasContentLength: Bool
    let hasTransferEncoding: Bool
    let hasHost: Bool

    init(_ scan: RequestHeadScan) {
        hasContentLength = scan.contentLength != nil
        hasTransferEncoding = scan.hasTransferEncoding
        hasHost = scan.host != nil
    }
}

extension RequestHeadScan {
    /// Why the request's Host makes it a 400 (RFC 9112 §3.2), or nil: HTTP/1.1 needs
    /// exactly one Host line, and a Host must be a host[:port]. Two hops that read
    /// different Host lines route (and cache) one request two ways.
    func hostProblem(_ version: HTTPVersion) -> String? {
        if hostLines > 1 { return "request has \(hostLines) Host header lines" }
        if hostLines == 0 { return version.major == 1 && version.minor == 0 ? nil : "HTTP/1.1 request without a Host header" }
        return hostIsValid ? nil : "Host \"\(host ?? "")\" is not a host[:port]"
    }

    /// RFC 3986 §3.2.2–3.2.3 host [":" port]: an IP literal in brackets, or a name of
    /// unreserved characters and %-escapes (an IPv4 address is one), then an optional
    /// port of at most 65535. The sub-delims RFC 3986 allows in a reg-name (`,` `;` `=`
    /// ...) are refused: no DNS name has them, and `a.test,b.test` reads as a list to
    /// some frameworks (first or last taken). Empty is valid (a target without an
    /// authority); a port without a host is not. No userinfo, path, query or whitespace.
    static func isValidHost(_ value: UnsafeRawBufferPointer) -> Bool {
        var i = 0
        let count = value.count
        if count > 0 && value[0] == UInt8(ascii: "[") {
            i = 1
            while i < count && value[i] != UInt8(ascii: "]") {
                switch value[i] {
                case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"), UInt8(ascii: "A")...UInt8(ascii: "F"),
                    UInt8(ascii: ":"), UInt8(ascii: "."):
                    i += 1
                default:
                    return false
                }
            }
            guard i < count, i > 1 else { return false }
            i += 1
        } else {
            while i < count && value[i] != UInt8(ascii: ":") {
                switch value[i] {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                    UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                    i += 1
                case UInt8(ascii: "%"):
                    guard i + 2 < count, hexDigitValue(value[i + 1]) != nil, hexDigitValue(value[i + 2]) != nil else { return false }
                    i += 3
                default:
                    return false
                }
            }
        }
        guard i < count else { return true }
        guard value[i] == UInt8(ascii: ":"), i > 0, count - i - 1 <= 5 else { return false }
        var port = 0
        for j in (i + 1)..<count {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(value[j]) else { return false }
            port = port * 10 + Int(value[j] - UInt8(ascii: "0"))
        }
        return port <= 65535
    }
}

/// A request target in absolute form (RFC 9112 §3.2.2), `http://authority/path?query`:
/// what a client that takes gw for a forward proxy sends. The decoder hands the
/// request on with the target's origin form (`RequestDecoder`).
enum AbsoluteTarget {
    /// Whether `target` starts with `http://` or `https://` (any case).
    static func isAbsolute(_ target: UnsafeRawBufferPointer) -> Bool {
        var i = 0
        for expected in "http".utf8 {
            guard i < target.count, target[i] | 0x20 == expected else { return false }
            i += 1
        }
        if i < target.count && target[i] | 0x20 == UInt8(ascii: "s") { i += 1 }
        return i + 3 <= target.count && target[i] == UInt8(ascii: ":") && target[i + 1] == UInt8(ascii: "/")
            && target[i + 2] == UInt8(ascii: "/")
    }

    /// The origin form (path and query; `/` when there is no path) of an absolute
    /// target (`isAbsolute`), or why the request is a 400: an authority that is empty,
    /// has userinfo or is not a host[:port], or that differs from the request's `host`
    /// (RFC 9112 lets a server prefer the authority; two hops that chose differently
    /// would route one request two ways), or a fragment.
    static func parse(_ target: UnsafeRawBufferPointer, host: UnsafeRawBufferPointer?) -> Result<String, AbsoluteTargetProblem> {
        guard let slashes = target.firstIndex(of: UInt8(ascii: "/")), slashes + 2 <= target.count else {
            return .failure(.init("malformed absolute-form target"))
        }
        let start = slashes + 2
        let end = target[start...].firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") } ?? target.count
        let authority = UnsafeRawBufferPointer(rebasing: target[start..<end])
        guard !authority.isEmpty, RequestHeadScan.isValidHost(authority) else {
            return .failure(.init("the target's authority \"\(String(decoding: authority, as: UTF8.self))\" is not a host[:port]"))
        }
        if let host, !equalBytesIgnoringCase(authority, host) {
            return .failure(
                .init("the target's authority \"\(String(decoding: authority, as: UTF8.self))\" and Host \"\(String(decoding: host, as: UTF8.self))\" differ"))
        }
        let rest = UnsafeRawBufferPointer(rebasing: target[end...])
        if rest.contains(UInt8(ascii: "#")) { return .failure(.init("a fragment in the request target")) }
        let path = String(decoding: rest, as: UTF8.self)
        return .success(rest.isEmpty || rest.first == UInt8(ascii: "?") ? "/" + path : path)
    }
}

struct AbsoluteTargetProblem: Error {
    let message: String
    init(_ message: String) { self.message = message }
}
