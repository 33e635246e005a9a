import NIOCore
import NIOHTTP1

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A response head kept as the upstream sent it, with the filters' header changes
/// beside it: lines removed (by position) and lines added. Filters read and change
/// it through the same host calls as an `HTTPResponseHead`, without a string per
/// header; the server then writes the received lines minus the removed ones plus
/// the added ones, instead of serializing a header list.
///
/// A change the delta does not model turns it into an `HTTPResponseHead` first
/// (`FilterChainRun.materializeResponseHead`): a status change, a body whose length
/// changed, listing every header, or any change to a framing or hop-by-hop header
/// (`affectsFraming`), which the server's general writer handles.
public struct ResponseHeadBytes {
    /// Status line, header lines, blank line; validated by the server's parser
    /// (token names, a colon, no CR/LF/NUL in values).
    public let bytes: ByteBuffer
    /// Status line with its CRLF; the header lines follow.
    public let statusLineLength: Int
    public let status: Int
    public let version: HTTPVersion
    /// Received header lines removed by filters: bit i is the i-th line.
    public private(set) var removedLines: UInt64 = 0
    /// Lines added by filters, each `name: value\r\n`, in order.
    public private(set) var addedLines: [UInt8] = []

    /// Received lines the removal mask can address.
    public static let maxLines = 64

    /// Nil if the head has more than `maxLines` header lines.
    public init?(bytes: ByteBuffer, statusLineLength: Int, status: Int, version: HTTPVersion, lineCount: Int) {
        guard lineCount <= Self.maxLines else { return nil }
        self.bytes = bytes
        self.statusLineLength = statusLineLength
        self.status = status
        self.version = version
    }

    /// Whether a filter removed anything from or added anything to the received lines.
    public var isEdited: Bool { removedLines != 0 || !addedLines.isEmpty }

    /// Each header as it now stands: received lines not removed, then added lines, in
    /// order. `body` returns false to stop.
    public func forEachField(_ body: (_ name: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) -> Bool) {
        var going = true
        bytes.withUnsafeReadableBytes { raw in
            var line = 0
            Self.forEachLine(raw, from: statusLineLength) { name, value, _ in
                defer { line += 1 }
                if removedLines & (1 << UInt64(line)) != 0 { return true }
                going = body(name, value)
                return going
            }
        }
        guard going, !addedLines.isEmpty else { return }
        addedLines.withUnsafeBytes { raw in
            Self.forEachLine(raw, from: 0) { name, value, _ in body(name, value) }
        }
    }

    /// Remove every field named `name` (ASCII case-insensitive).
    public mutating func remove(name: UnsafeRawBufferPointer) {
        var mask = removedLines
        bytes.withUnsafeReadableBytes { raw in
            var line = 0
            Self.forEachName(raw, from: statusLineLength) { fieldName, _ in
                if equalBytesIgnoringCase(fieldName, name) { mask |= 1 << UInt64(line) }
                line += 1
            }
        }
        removedLines = mask
        guard !addedLines.isEmpty else { return }
        var kept: [UInt8]?
        addedLines.withUnsafeBytes { raw in
            Self.forEachName(raw, from: 0) { fieldName, line in
                if equalBytesIgnoringCase(fieldName, name) {
                    if kept == nil { kept = Array(raw[0..<line.lowerBound]) }
                } else if kept != nil {
                    kept!.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[line]))
                }
            }
        }
        if let kept { addedLines = kept }
    }

    /// Append a field (the caller checked that the name is a token and the value has
    /// no CR, LF or NUL).
    public mutating func add(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        if addedLines.isEmpty { addedLines.reserveCapacity(128) }
        addedLines.append(contentsOf: name)
        addedLines.append(58)
        addedLines.append(32)
        addedLines.append(contentsOf: value)
        addedLines.append(13)
        addedLines.append(10)
    }

    /// The head as NIO's type, strings and all, with the changes applied (reason
    /// phrase normalised by status).
    public func makeHead() -> HTTPResponseHead {
        var fields: [(String, String)] = []
        fields.reserveCapacity(12)
        forEachField { name, value in
            fields.append((String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
            return true
        }
        return HTTPResponseHead(version: version, status: HTTPResponseStatus(statusCode: status), headers: HTTPHeaders(fields))
    }

    /// A name whose change the delta does not carry: the framing headers, `Connection`
    /// and the hop-by-hop names the server leaves out, and `x-request-id`, which the
    /// server writes itself. Changing one turns the head into an `HTTPResponseHead`.
    public static func affectsFraming(_ name: UnsafeRawBufferPointer) -> Bool {
        switch name.count {
        case 2: return equalBytesIgnoringCase(name, "te")
        case 7: return equalBytesIgnoringCase(name, "trailer") || equalBytesIgnoringCase(name, "upgrade")
        case 10: return equalBytesIgnoringCase(name, "connection") || equalBytesIgnoringCase(name, "keep-alive")
        case 12: return equalBytesIgnoringCase(name, "x-request-id")
        case 14: return equalBytesIgnoringCase(name, "content-length")
        case 16: return equalBytesIgnoringCase(name, "proxy-connection")
        case 17: return equalBytesIgnoringCase(name, "transfer-encoding")
        case 18: return equalBytesIgnoringCase(name, "proxy-authenticate")
        default: return false
        }
    }

    /// Each header line's name and range (with its CRLF), as `forEachLine` without
    /// reading values: the search for a name to remove.
    static func forEachName(
        _ bytes: UnsafeRawBufferPointer, from start: Int, _ body: (_ name: UnsafeRawBufferPointer, _ line: Range<Int>) -> Void
    ) {
        guard let base = bytes.baseAddress else { return }
        var i = start
        while i + 1 < bytes.count && bytes[i] != 13 {
            let lineStart = i
            while bytes[i] != 58 { i += 1 }
            let name = UnsafeRawBufferPointer(rebasing: bytes[lineStart..<i])
            // A validated line ends with CRLF: find its LF.
            guard let lf = memchr(base + i, 10, bytes.count - i) else { return }
            i = base.distance(to: UnsafeRawPointer(lf)) + 1
            body(name, lineStart..<i)
        }
    }

    /// Each header line of a validated head from `start` to its blank line (or the
    /// end): its name, its value without surrounding whitespace, and the line's range
    /// with its CRLF. `body` returns false to stop.
    public static func forEachLine(
        _ bytes: UnsafeRawBufferPointer, from start: Int,
        _ body: (_ name: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, _ line: Range<Int>) -> Bool
    ) {
        var i = start
        while i + 1 < bytes.count && bytes[i] != 13 {
            let lineStart = i
            while bytes[i] != 58 { i += 1 }
            let nameEnd = i
            i += 1
            while bytes[i] == 32 || bytes[i] == 9 { i += 1 }
            let valueStart = i
            while bytes[i] != 13 { i += 1 }
            var valueEnd = i
            while valueEnd > valueStart && (bytes[valueEnd - 1] == 32 || bytes[valueEnd - 1] == 9) { valueEnd -= 1 }
            i += 2
            let name = UnsafeRawBufferPointer(rebasing: bytes[lineStart..<nameEnd])
            let value = UnsafeRawBufferPointer(rebasing: bytes[valueStart..<valueEnd])
            guard body(name, value, lineStart..<i) else { return }
        }
    }
}

/// ASCII case-insensitive equality of two byte strings.
@inline(__always)
func equalBytesIgnoringCase(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    guard a.count == b.count else { return false }
    for i in 0..<a.count {
        var x = a[i]
        var y = b[i]
        if x >= 65 && x <= 90 { x += 32 }
        if y >= 65 && y <= 90 { y += 32 }
        if x != y { return false }
    }
    return true
}

/// ASCII case-insensitive equality of bytes with a lowercase literal.
@inline(__always)
func equalBytesIgnoringCase(_ a: UnsafeRawBufferPointer, _ lower: StaticString) -> Bool {
    equalBytesIgnoringCase(a, UnsafeRawBufferPointer(start: lower.utf8Start, count: lower.utf8CodeUnitCount))
}
