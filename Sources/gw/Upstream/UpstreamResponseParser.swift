import NIOCore
import NIOHTTP1
import PluginHost

/// HTTP/1.1 response parser for upstream connections (RFC 9112), fed the raw bytes
/// of one connection. It replaces NIO's `HTTPResponseDecoder` and the
/// `ByteToMessageHandler` around it on the upstream side: the upstream handler
/// calls it directly, so a response no longer crosses two more handlers with a
/// boxed `NIOAny` (and a dynamic cast) per part.
///
/// Framing, in RFC 9112 §6.3 order: no body for HEAD, 1xx, 204 and 304;
/// `Transfer-Encoding` ending in `chunked` is de-chunked; any other
/// `Transfer-Encoding` reads to EOF; `Content-Length` (all values equal) counts
/// bytes; otherwise the body ends at EOF. A response framed by both headers, by
/// EOF, or marked `Connection: close` makes the connection unusable afterwards.
/// 1xx heads are dropped, except 101, which is an error (gw forwards no Upgrade);
/// bytes after a complete response make the connection unusable. Body bytes are slices of the input (no
/// copy); only an incomplete head or chunk line is kept between reads.
///
/// Errors are `HTTPParserError`, as NIO's decoder threw, so callers classify
/// them the same way (`upstream_protocol_error`).
///
/// A class, not a struct: `emit` runs the exchange, which reads `keepAlive` and may
/// start the next request on this connection (setting `requestIsHEAD`) while a
/// `feed` is under way; a mutating struct method would hold exclusive access to it.
final class UpstreamResponseParser {
    enum Event {
        /// A response head, to be taken with `takeHead()`.
        case head
        case body(ByteBuffer)
        case end
    }

    /// The head announced by the last `.head` event.
    private var head: ReceivedResponseHead?
    private static let noHead = ReceivedResponseHead(bytes: ByteBuffer())

    /// The head of the `.head` event just emitted, moved out: the caller holds the
    /// only reference to its bytes (an enum payload would keep them referenced).
    func takeHead() -> ReceivedResponseHead {
        head.take() ?? Self.noHead
    }

    /// Largest response head (status line and headers) accepted.
    static let maxHeadBytes = 64 * 1024
    /// Largest chunk-size line or trailer section accepted.
    static let maxLineBytes = 8 * 1024

    private enum State {
        case head
        case fixed(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers
        case untilClose
    }

    private var state = State.head
    /// Bytes of an incomplete head or line, kept until the next read completes it.
    private var pending: ByteBuffer?
    /// An incomplete head's fields read so far, and the offset (in `pending`) of the
    /// first line not read yet: the next read resumes there instead of scanning the
    /// head again from its start (a head dripping in byte by byte costs linear time).
    private var partialHead: (head: ReceivedResponseHead, resumeAt: Int)?
    /// The request now in flight was HEAD: its response has no body.
    var requestIsHEAD = false
    /// False once a response said the connection cannot carry another exchange.
    private(set) var keepAlive = true

    /// True between a response's head and its end.
    var inBody: Bool {
        if case .head = state { return false }
        return true
    }

    /// Parse `input`, calling `emit` for each part in order.
    func feed(_ input: ByteBuffer, emit: (Event) -> Void) throws(HTTPParserError) {
        var buffer: ByteBuffer
        if var kept = pending {
            pending = nil
            var input = input
            kept.writeBuffer(&input)
            buffer = kept
        } else {
            buffer = input
        }
        while buffer.readableBytes > 0 {
            switch state {
            case .head:
                var (received, resumeAt) = partialHead.take() ?? (Self.noHead, 0)
                var failure: HTTPParserError?
                let scanned = buffer.withUnsafeReadableBytes { bytes -> Int? in
                    do throws(HTTPParserError) {
                        return try Self.scanHead(bytes, into: &received, resumeAt: &resumeAt)
                    } catch {
                        failure = error
                        return nil
                    }
                }
                if let failure { throw failure }
                guard let headLength = scanned else {
                    if buffer.readableBytes > Self.maxHeadBytes { throw .headerOverflow }
                    pending = buffer
                    partialHead = (received, resumeAt)
                    return
                }
                guard headLength <= Self.maxHeadBytes else { throw .headerOverflow }
                // gw forwards no Upgrade (docs/decisions.md): a 101 was asked for by
                // nobody, and what follows it would reach the client unframed.
                guard received.status != 101 else { throw .invalidStatus }
                received.bytes = buffer.readSlice(length: headLength)!
                if startResponse(received, excess: buffer.readableBytes, emit: emit) { return }
            case .fixed(let remaining):
                let take = min(remaining, buffer.readableBytes)
                emit(.body(buffer.readSlice(length: take)!))
                if take == remaining {
                    if finish(emit, excess: buffer.readableBytes) { return }
                } else {
                    state = .fixed(remaining: remaining - take)
                }
            case .chunkSize:
                guard let line = try readLine(&buffer) else { return }
                let size = try Self.chunkSize(line)
                state = size == 0 ? .trailers : .chunkData(remaining: size)
            case .chunkData(let remaining):
                let take = min(remaining, buffer.readableBytes)
                emit(.body(buffer.readSlice(length: take)!))
                state = take == remaining ? .chunkDataEnd : .chunkData(remaining: remaining - take)
            case .chunkDataEnd:
                guard let line = try readLine(&buffer) else { return }
                guard line.readableBytes == 0 else { throw .invalidChunkSize }
                state = .chunkSize
            case .trailers:
                // Trailer fields are read and dropped (gw forwards no trailers).
                guard let line = try readLine(&buffer) else { return }
                if line.readableBytes == 0, finish(emit, excess: buffer.readableBytes) { return }
            case .untilClose:
                emit(.body(buffer))
                return
            }
        }
    }

    /// The connection reached EOF. A body framed by EOF ends here; anything else
    /// unfinished was truncated (thrown as `.invalidEOFState`).
    func inputClosed(emit: (Event) -> Void) throws(HTTPParserError) {
        keepAlive = false
        switch state {
        case .untilClose:
            state = .head
            emit(.end)
        case .head where pending == nil:
            return
        default:
            throw .invalidEOFState
        }
    }

    // MARK: - Heads

    /// The body's framing is decided before the head is handed on (`takeHead`).
    /// `excess`: input bytes after the head. Returns true when the response ended
    /// with its head and bytes followed it (`finish`).
    private func startResponse(_ received: consuming ReceivedResponseHead, excess: Int, emit: (Event) -> Void) -> Bool {
        let code = received.status
        if code < 200 { return false }  // informational: the final head follows
        // HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`.
        if received.connectionClose || (received.version.minor == 0 && !received.connectionKeepAlive) { keepAlive = false }
        let body: State?  // nil: no body, the response ends with its head
        if requestIsHEAD || code == 204 || code == 304 {
            body = nil
        } else if received.hasTransferEncoding {
            // Both framings at once is a smuggling pattern: never reuse the connection.
            if received.contentLength != nil { keepAlive = false }
            if received.chunked {
                body = .chunkSize
            } else {
                keepAlive = false
                body = .untilClose
            }
        } else if let length = received.contentLength {
            body = length == 0 ? nil : .fixed(remaining: length)
        } else {
            keepAlive = false
            body = .untilClose
        }
        self.head = consume received
        emit(.head)
        self.head = nil
        if let body {
            state = body
            return false
        }
        return finish(emit, excess: excess)
    }

    /// The response is complete. `excess`: input bytes after its end. An upstream
    /// answers one response per request, so bytes beyond it are not the next
    /// request's answer (that request is not sent yet): a second response it sent
    /// on its own, or garbage. Handed on, they would become the answer to whichever
    /// request the connection carries next, possibly another client's (response
    /// desync). They are dropped and the connection is not reused. Returns whether
    /// that happened: the caller stops parsing this input.
    private func finish(_ emit: (Event) -> Void, excess: Int) -> Bool {
        state = .head
        requestIsHEAD = false
        pending = nil
        partialHead = nil
        if excess > 0 { keepAlive = false }
        emit(.end)
        return excess > 0
    }

    /// Bytes of an incomplete response head are held: the connection closed in the
    /// middle of a head (a truncated answer, not a connection closed before any).
    var hasPartialHead: Bool {
        if case .head = state { return pending != nil }
        return false
    }

    /// Validate the head at the start of `bytes` and read what gw needs from it into
    /// `received` (status, framing, `Connection` tokens, the lines a proxy leaves
    /// out), without making strings and in one pass: the head's length once its blank
    /// line is there, nil while it is incomplete. A byte that makes it invalid throws
    /// as soon as it arrives, whether or not the rest has. `resumeAt`: 0, or where an
    /// earlier call on a prefix of `bytes` stopped (the first line it did not read,
    /// its fields already in `received`); updated when the head is incomplete.
    static func scanHead(
        _ bytes: UnsafeRawBufferPointer, into received: inout ReceivedResponseHead, resumeAt: inout Int
    ) throws(HTTPParserError) -> Int? {
        let count = bytes.count
        if resumeAt > 0 { return try scanFields(bytes, from: resumeAt, into: &received, resumeAt: &resumeAt) }
        // Status line: HTTP/1.x SP 3DIGIT [SP reason] CRLF, checked as far as it arrived.
        let prefix: StaticString = "HTTP/1."
        for i in 0..<min(7, count) where bytes[i] != prefix.utf8Start[i] { throw .invalidVersion }
        if count > 7 && bytes[7] != 48 && bytes[7] != 49 { throw .invalidVersion }
        if count > 8 && bytes[8] != 32 { throw .invalidStatus }
        for i in 9..<min(12, max(count, 9)) where !isDigit(bytes[i]) || (i == 9 && bytes[i] == 48) { throw .invalidStatus }
        guard count > 12 else { return nil }
        received.version = bytes[7] == 49 ? .http1_1 : .http1_0
        received.status = Int(bytes[9] - 48) * 100 + Int(bytes[10] - 48) * 10 + Int(bytes[11] - 48)
        var i = 12
        if bytes[i] == 32 {
            guard let end = try valueEnd(bytes, from: i) else { return nil }
            i = end
        }
        guard i + 1 < count else { return nil }
        guard bytes[i] == 13, bytes[i + 1] == 10 else { throw .lfExpected }
        i += 2
        received.statusLineLength = i
        return try scanFields(bytes, from: i, into: &received, resumeAt: &resumeAt)
    }

    /// The header fields from `start` to the blank line (see `scanHead`).
    private static func scanFields(
        _ bytes: UnsafeRawBufferPointer, from start: Int, into received: inout ReceivedResponseHead, resumeAt: inout Int
    ) throws(HTTPParserError) -> Int? {
        let count = bytes.count
        var i = start
        while true {
            resumeAt = i
            guard i + 1 < count else { return nil }
            if bytes[i] == 13 && bytes[i + 1] == 10 { return i + 2 }
            let lineStart = i
            while i < count && isTokenByte(bytes[i]) { i += 1 }
            guard i < count else { return nil }
            // No name, obs-fold (a line starting with a space) or whitespace before the colon.
            guard i > lineStart, bytes[i] == 58 else { throw .invalidHeaderToken }
            let nameEnd = i
            i += 1
            while i < count && (bytes[i] == 32 || bytes[i] == 9) { i += 1 }
            let valueStart = i
            guard let end = try valueEnd(bytes, from: i), end + 1 < count else { return nil }
            guard bytes[end + 1] == 10 else { throw .lfExpected }
            var valueEnd = end
            while valueEnd > valueStart && (bytes[valueEnd - 1] == 32 || bytes[valueEnd - 1] == 9) { valueEnd -= 1 }
            i = end + 2
            let name = UnsafeRawBufferPointer(rebasing: bytes[lineStart..<nameEnd])
            let value = UnsafeRawBufferPointer(rebasing: bytes[valueStart..<valueEnd])
            if let error = received.note(name: name, value: value, line: lineStart..<i) { throw error }
        }
    }

    /// Where the field value (or reason phrase) starting at `from` ends: the index of
    /// its CR, nil if the bytes end first. Throws at a byte a value may not hold: a
    /// control character other than HTAB (a bare LF and NUL included) or DEL.
    /// Eight bytes at a time: a word without a byte below 0x20 or equal to 0x7F is
    /// skipped whole (bytes of 0x80 and up, obs-text, pass); the lowest flagged byte
    /// of a word is exact, so the search resumes right after an HTAB.
    @inline(__always)
    static func valueEnd(_ bytes: UnsafeRawBufferPointer, from start: Int) throws(HTTPParserError) -> Int? {
        guard let base = bytes.baseAddress else { return nil }
        let count = bytes.count
        var i = start
        while true {
            if i + 8 <= count {
                let word = UInt64(littleEndian: (base + i).loadUnaligned(as: UInt64.self))
                let control = (word &- 0x2020_2020_2020_2020) & ~word & 0x8080_8080_8080_8080
                let flipped = word ^ 0x7f7f_7f7f_7f7f_7f7f
                let delete = (flipped &- 0x0101_0101_0101_0101) & ~flipped & 0x8080_8080_8080_8080
                let flagged = control | delete
                if flagged == 0 {
                    i += 8
                    continue
                }
                i += flagged.trailingZeroBitCount >> 3
            } else {
                while i < count && bytes[i] >= 32 && bytes[i] != 127 { i += 1 }
                guard i < count else { return nil }
            }
            let byte = bytes[i]
            if byte == 13 { return i }
            guard byte == 9 else { throw .invalidCharactersUsed }
            i += 1
        }
    }

    /// A chunk-size line: hex digits, then optional extensions (ignored).
    private static func chunkSize(_ line: ByteBuffer) throws(HTTPParserError) -> Int {
        let result = line.withUnsafeReadableBytes { bytes -> Int? in
            var size = 0
            var digits = 0
            var i = 0
            while i < bytes.count, let value = hexDigitValue(bytes[i]) {
                guard digits < 15 else { return nil }
                size = size << 4 | Int(value)
                digits += 1
                i += 1
            }
            guard digits > 0 else { return nil }
            while i < bytes.count && (bytes[i] == 32 || bytes[i] == 9) { i += 1 }
            guard i == bytes.count || bytes[i] == 59 else { return nil }  // ';' starts an extension
            return size
        }
        guard let result else { throw .invalidChunkSize }
        return result
    }

    /// The next CRLF-terminated line (without it), or nil with the rest kept in `pending`.
    private func readLine(_ buffer: inout ByteBuffer) throws(HTTPParserError) -> ByteBuffer? {
        let end = buffer.withUnsafeReadableBytes { bytes -> Int? in
            var i = 0
            while i + 1 < bytes.count {
                if bytes[i] == 13 {
                    return bytes[i + 1] == 10 ? i : -1
                }
                if bytes[i] == 10 { return -1 }
                i += 1
            }
            return nil
        }
        guard let end else {
            if buffer.readableBytes > Self.maxLineBytes { throw .headerOverflow }
            pending = buffer
            buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
            return nil
        }
        guard end >= 0 else { throw .lfExpected }
        let line = buffer.readSlice(length: end)!
        buffer.moveReaderIndex(forwardBy: 2)
        return line
    }
}

@inline(__always)
private func isDigit(_ b: UInt8) -> Bool { b >= 48 && b <= 57 }


@available(*, unavailable)
extension UpstreamResponseParser: Sendable {}
