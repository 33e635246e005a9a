import NIOCore
import NIOHTTP1
import PluginHost

/// An upstream response head as it arrived: its bytes (a slice of the read buffer,
/// status line to blank line, already validated by `UpstreamResponseParser`) and
/// what gw needs from its fields, read without making a string. Header strings are
/// made only when something needs them (`makeHead`): a filter chain, an AI call,
/// or a head the pass-through writer does not take (`passesThrough`).
struct ReceivedResponseHead {
    var bytes: ByteBuffer
    var version = HTTPVersion.http1_1
    var status = 200
    /// Status line with its CRLF; the header lines follow.
    var statusLineLength = 0
    /// Content-Length (every value and element the same number), if present.
    var contentLength: Int?
    /// A Transfer-Encoding line is present; `chunked`: its last coding is chunked.
    var hasTransferEncoding = false
    var chunked = false
    var connectionClose = false
    var connectionKeepAlive = false
    /// `Connection` names a header besides close, keep-alive and the framing headers:
    /// that header is hop-by-hop too (only the general writer removes it).
    var connectionListsOthers = false
    /// Header lines in the head, and their name lengths (`HeaderLines.lengthBit`).
    var lineCount = 0
    var nameLengths: UInt64 = 0
    /// Lines a proxy leaves out (hop-by-hop ones and the upstream's x-request-id),
    /// as byte ranges of `bytes`, in order; more than `maxSkips` is `skipOverflow`.
    /// (An `InlineArray`, not `SIMD8`: a SIMD vector's 16-byte alignment made every
    /// object holding a head, the exchange included, take the aligned allocator.)
    private(set) var skips = InlineArray<8, UInt32>(repeating: 0)
    private(set) var skipCount = 0
    private(set) var skipOverflow = false
    static let maxSkips = 4

    init(bytes: ByteBuffer) {
        self.bytes = bytes
    }

    /// Record one validated header line (`line` includes its CRLF). Returns an error
    /// for a malformed Content-Length.
    mutating func note(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, line: Range<Int>) -> HTTPParserError? {
        lineCount += 1
        nameLengths |= HeaderLines.lengthBit(name.count)
        switch name.count {
        case 14 where equalBytesIgnoringCase(name, "content-length"):
            guard let length = Self.contentLength(value, previous: contentLength) else { return .invalidContentLength }
            contentLength = length
            return nil
        case 17 where equalBytesIgnoringCase(name, "transfer-encoding"):
            hasTransferEncoding = true
            // The last coding of the last line decides (RFC 9112 §6.3); empty elements do not count.
            forEachElement(value) { element in chunked = equalBytesIgnoringCase(element, "chunked") }
        case 10 where equalBytesIgnoringCase(name, "connection"):
            skip(line)
            forEachElement(value) { element in
                if equalBytesIgnoringCase(element, "close") {
                    connectionClose = true
                } else if equalBytesIgnoringCase(element, "keep-alive") {
                    connectionKeepAlive = true
                } else if !equalBytesIgnoringCase(element, "transfer-encoding") && !equalBytesIgnoringCase(element, "content-length") {
                    // Framing headers are never dropped on a Connection's word (HopByHop).
                    connectionListsOthers = true
                }
            }
        case 12 where equalBytesIgnoringCase(name, "x-request-id"):
            skip(line)
        default:
            if isFixedHopByHopName(name) { skip(line) }
        }
        return nil
    }

    private mutating func skip(_ line: Range<Int>) {
        guard skipCount < Self.maxSkips else {
            skipOverflow = true
            return
        }
        skips[2 * skipCount] = UInt32(line.lowerBound)
        skips[2 * skipCount + 1] = UInt32(line.upperBound)
        skipCount += 1
    }

    /// The header lines without the skipped ones, as ranges of `bytes` (each ends with CRLF).
    func forEachKeptRange(_ body: (Range<Int>) -> Void) {
        var start = statusLineLength
        let end = bytes.readableBytes - 2  // the blank line
        for i in 0..<skipCount {
            let from = Int(skips[2 * i])
            if from > start { body(start..<from) }
            start = Int(skips[2 * i + 1])
        }
        if end > start { body(start..<end) }
    }

    /// As `forEachKeptRange`, one line at a time, also without the lines whose bit
    /// is set in `removed` (bit i: the i-th header line). `raw`: `bytes`' readable bytes.
    func forEachKeptLine(_ raw: UnsafeRawBufferPointer, removing removed: UInt64, _ body: (Range<Int>) -> Void) {
        var line = 0
        var skip = 0
        HeaderLines.forEachLine(raw, from: statusLineLength) { _, _, range in
            defer { line += 1 }
            if skip < skipCount && Int(skips[2 * skip]) == range.lowerBound {
                skip += 1
            } else if line >= 64 || removed & (1 << UInt64(line)) == 0 {
                body(range)
            }
            return true
        }
    }

    /// Whether `DownstreamHandler.writeReceivedResponseHead` can send this head to a
    /// client with its lines copied as they are: a final status that has a body,
    /// from HTTP/1.1, framed by Content-Length alone, with no header `Connection`
    /// names and at most `maxSkips` lines to leave out. Anything else goes through
    /// `makeHead` and the general writer.
    var passesThrough: Bool {
        status >= 200 && status != 204 && status != 304 && version == .http1_1 && contentLength != nil
            && !hasTransferEncoding && !connectionListsOthers && !skipOverflow
    }

    /// The head as NIO's type, strings and all (reason phrase normalised by status).
    func makeHead() -> HTTPResponseHead {
        var headers: [(String, String)] = []
        headers.reserveCapacity(12)
        bytes.withUnsafeReadableBytes { bytes in
            HeaderLines.forEachLine(bytes, from: statusLineLength) { name, value, _ in
                headers.append((String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
                return true
            }
        }
        return HTTPResponseHead(version: version, status: HTTPResponseStatus(statusCode: status), headers: HTTPHeaders(headers))
    }

    /// Whether a filter run can keep this head as bytes (`makeHeadBytes`): it has no
    /// more lines than that form addresses.
    var fitsHeadBytes: Bool { lineCount <= HeaderLines.maxLines }

    /// The head for a filter run that keeps it as bytes (`ResponseHeadBytes`); only
    /// if `fitsHeadBytes`.
    func makeHeadBytes() -> ResponseHeadBytes {
        ResponseHeadBytes(
            bytes: bytes, statusLineLength: statusLineLength, status: status, version: version, lineCount: lineCount,
            nameLengths: nameLengths)
    }

    /// A Content-Length value: comma-separated elements, each optional whitespace
    /// around decimal digits, all equal to each other and to `previous`. Nil if not.
    private static func contentLength(_ value: UnsafeRawBufferPointer, previous: Int?) -> Int? {
        var length = previous
        var number = 0
        var digits = 0
        var afterDigits = false
        for byte in value {
            switch byte {
            case 48...57:
                guard !afterDigits, digits < 18 else { return nil }
                number = number * 10 + Int(byte - 48)
                digits += 1
            case 32, 9:
                if digits > 0 { afterDigits = true }
            case 44:
                guard digits > 0 else { return nil }
                if let length, length != number { return nil }
                length = number
                number = 0
                digits = 0
                afterDigits = false
            default:
                return nil
            }
        }
        guard digits > 0 else { return nil }
        if let length, length != number { return nil }
        return number
    }
}
