import CNIOLLHTTP
import NIOCore
import NIOHTTP1
import PluginHost

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One parsed piece of a client request.
enum RequestPart {
    /// `keepAlive`: llhttp's verdict from the version and `Connection` header.
    case head(ReceivedRequestHead, keepAlive: Bool)
    case body(ByteBuffer)
    case end
}

/// HTTP/1.1 request parser for client connections, called by `DownstreamHandler`
/// itself: llhttp (NIO's vendored copy, strict: no lenient flag is ever set, so
/// CL+TE, duplicate or malformed Content-Length, a Transfer-Encoding not ending in
/// `chunked`, obs-fold, bare CR/LF and bad token bytes are all refused) without
/// NIO's `ByteToMessageHandler` and `HTTPRequestDecoder` around it. Those cost two
/// pipeline handlers, a boxed `NIOAny` per part and a cumulation buffer; here the
/// head's bytes are gathered in a reused scratch buffer and copied once into the
/// `ReceivedRequestHead` (no string per header), and the body parts are slices of
/// the bytes read (no copy).
///
/// `Upgrade` is not honoured (gw tunnels no protocol): the parser is told the
/// request is not an upgrade, so it goes on as plain HTTP and the `Upgrade` and
/// `Connection` headers are dropped as hop-by-hop when forwarding. Trailer fields
/// of a chunked body are parsed and dropped.
final class RequestDecoder {
    /// Largest request head (request line and fields) accepted.
    static let maxHeadBytes = 64 * 1024

    /// Parts found by the last `feed`, in order; `takePart` hands them out.
    private var parts: [RequestPart] = []
    private var taken = 0

    private let parser: UnsafeMutablePointer<llhttp_t>
    /// The request line's target and the header fields' bytes, back to back.
    private var scratch = HeadScratch()
    private var urlEnd = 0
    /// Per field: where its name starts, where its value starts (= name end), where it ends.
    private var fields: [(name: Int, value: Int, end: Int)] = []
    /// A finished request's field storage (`recycle`), for the next head.
    private var spareStorage: [UInt8]?
    private var phase = Phase.idle
    private var failure: HTTPParserError?
    /// What was wrong, for the 400 answer: llhttp's reason or one of gw's checks.
    private(set) var failureReason = ""
    /// The buffer being parsed and its bytes' address, for body slices.
    private var input = ByteBuffer()
    /// A message's head was handed on and its end not yet: an error now is inside
    /// that message (its exchange cannot complete), not in a later one.
    private(set) var inMessage = false
    /// A request said `Connection: close` and ended: what follows is ignored
    /// (RFC 9112 §9.6), not parsed as another request.
    private(set) var closed = false
    /// The failure is a CONNECT: well-formed, but a method gw does not implement (501).
    private(set) var refusedConnect = false
    private var inputBase: UnsafeRawPointer?

    private enum Phase {
        case idle, url, fields, name, value, body
    }

    init() {
        parser = .allocate(capacity: 1)
        c_nio_llhttp_init(parser, HTTP_REQUEST, requestSettings)
        parser.pointee.data = Unmanaged.passUnretained(self).toOpaque()
    }

    deinit {
        parser.deallocate()
    }

    /// Parse the next bytes from the client. The parts found are in `parts` (also
    /// those before an error); the error, if any, is final.
    func feed(_ buffer: ByteBuffer) -> HTTPParserError? {
        // Emptied from the end, keeping the capacity: `removeAll(keepingCapacity:)`
        // destroys through the runtime's generic array destroy (~190 instructions and
        // ~12 instruction-cache lines a request; here the destroy is inline).
        while parts.popLast() != nil {}
        taken = 0
        if let failure { return failure }
        if closed { return nil }
        input = buffer
        let errno = buffer.withUnsafeReadableBytes { bytes -> llhttp_errno_t in
            inputBase = bytes.baseAddress
            defer { inputBase = nil }
            return c_nio_llhttp_execute(parser, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), bytes.count)
        }
        input = ByteBuffer()
        guard errno != HPE_OK else { return nil }
        // Strict llhttp refuses bytes after a `Connection: close` request; they are dropped.
        if errno == HPE_CLOSED_CONNECTION {
            closed = true
            return nil
        }
        let error = failure ?? Self.error(errno)
        if failureReason.isEmpty, let reason = c_nio_llhttp_get_error_reason(parser) { failureReason = String(cString: reason) }
        failure = error
        return error
    }

    /// Keep a finished request's field storage for the next head (a connection's
    /// requests then share one allocation). Larger ones are let go (idle connections
    /// hold what is kept).
    func recycle(_ head: consuming ReceivedRequestHead) {
        let storage = head.takeStorage()
        if spareStorage == nil && storage.capacity <= DownstreamHandler.keptHeadBufferBytes { spareStorage = storage }
    }

    /// The next part found by the last `feed`, moved out.
    func takePart() -> RequestPart? {
        guard taken < parts.count else { return nil }
        // Swapped out, not copied then overwritten (a retain and a release of the head).
        var part = RequestPart.end
        swap(&part, &parts[taken])
        taken += 1
        return part
    }

    // MARK: - llhttp callbacks

    /// Call `body` with the parser's decoder, without a retain and release around it
    /// (13 callbacks for a small request): the decoder owns the parser and is alive
    /// for as long as `feed` runs it.
    @inline(__always)
    fileprivate static func with(_ parser: UnsafeMutablePointer<llhttp_t>?, _ body: (RequestDecoder) -> Int32) -> Int32 {
        Unmanaged<RequestDecoder>.fromOpaque(parser!.pointee.data)._withUnsafeGuaranteedRef(body)
    }

    fileprivate func onMessageBegin() -> Int32 {
        scratch.removeAll()
        while fields.popLast() != nil {}  // as `parts` in `feed`
        urlEnd = 0
        phase = .url
        return 0
    }

    fileprivate func onURL(_ at: UnsafePointer<CChar>?, _ length: Int) -> Int32 {
        append(at, length)
    }

    fileprivate func onURLComplete() -> Int32 {
        urlEnd = scratch.count
        phase = .fields
        return 0
    }

    // Trailer fields (after the head, `.body`) are parsed and dropped. The
    // `_complete` callbacks come for empty values too, which the data ones do not.

    fileprivate func onHeaderField(_ at: UnsafePointer<CChar>?, _ length: Int) -> Int32 {
        guard phase != .body else { return 0 }
        if phase != .name {
            fields.append((scratch.count, scratch.count, scratch.count))
            phase = .name
        }
        return append(at, length)
    }

    fileprivate func onHeaderFieldComplete() -> Int32 {
        guard phase != .body else { return 0 }
        fields[fields.count - 1].value = scratch.count
        phase = .value
        return 0
    }

    fileprivate func onHeaderValue(_ at: UnsafePointer<CChar>?, _ length: Int) -> Int32 {
        guard phase != .body else { return 0 }
        return append(at, length)
    }

    fileprivate func onHeaderValueComplete() -> Int32 {
        guard phase != .body else { return 0 }
        fields[fields.count - 1].end = scratch.count
        phase = .fields
        return 0
    }

    private func append(_ at: UnsafePointer<CChar>?, _ length: Int) -> Int32 {
        guard scratch.count + length <= Self.maxHeadBytes else {
            return refuse(.headerOverflow, "the request head exceeds \(Self.maxHeadBytes) bytes")
        }
        if let at, length > 0 {
            scratch.append(UnsafeRawPointer(at), length)
        }
        return 0
    }

    fileprivate func onHeadersComplete() -> Int32 {
        phase = .body
        let major = parser.pointee.http_major
        let minor = parser.pointee.http_minor
        guard major == 1 else { return refuse(.invalidVersion, "HTTP/\(major).\(minor) is not HTTP/1.x") }
        // RFC 9112 §6.1: an HTTP/1.0 recipient cannot know chunked framing; a 1.0
        // request that claims it is ambiguous, a smuggling pattern (nginx refuses it too).
        // gw tunnels nothing; a CONNECT forwarded as a request could leave a pooled
        // upstream connection in tunnel mode.
        if UInt32(parser.pointee.method) == HTTP_CONNECT.rawValue {
            refusedConnect = true
            return refuse(.invalidMethod, "CONNECT is not supported (gw does not tunnel)")
        }
        let flags = parser.pointee.flags
        if flags & UInt16(F_TRANSFER_ENCODING.rawValue) != 0 {
            if minor == 0 { return refuse(.unknown, "Transfer-Encoding in an HTTP/1.0 request") }
            // llhttp refuses this too, but only after this callback: refused here, the
            // head is never handed on (and never reaches an upstream connection).
            if flags & UInt16(F_CHUNKED.rawValue) == 0 {
                return refuse(.unknown, "the request's Transfer-Encoding does not end in chunked")
            }
        }
        // Not a protocol switch: llhttp then parses what follows as HTTP again.
        parser.pointee.upgrade = 0
        let version = HTTPVersion(major: 1, minor: Int(minor))
        let method = Self.method(parser.pointee.method)
        let bytes = scratch.bytes
        let target = UnsafeRawBufferPointer(rebasing: bytes[0..<urlEnd])
        let uri: String
        if urlEnd > 0 && bytes[0] != UInt8(ascii: "/") && AbsoluteTarget.isAbsolute(target) {
            // A forward-proxy request line (`GET http://host/path`, RFC 9112 §3.2.2): the
            // request is routed, filtered and forwarded by the target's origin form.
            switch AbsoluteTarget.parse(target, host: Self.firstHost(bytes, fields)) {
            case .failure(let problem): return refuse(.invalidURL, problem.message)
            case .success(let originForm): uri = originForm
            }
        } else {
            // RFC 9112 §3.2: no fragment in a request target. llhttp takes one, and an
            // upstream may end the path at it after resolving a dot segment before it
            // (nginx serves `/public/..#x` as `/`): a path gw routed by `/public/`.
            if let base = target.baseAddress, memchr(base, Int32(UInt8(ascii: "#")), target.count) != nil {
                return refuse(.invalidURL, "a fragment in the request target")
            }
            uri = String(decoding: target, as: UTF8.self)
        }
        let head = ReceivedRequestHead(
            method: method, version: version, uri: uri, bytes: bytes,
            base: urlEnd, fields: fields, reusing: spareStorage.take())
        parts.append(.head(head, keepAlive: c_nio_llhttp_should_keep_alive(parser) != 0))
        inMessage = true
        return 0
    }

    fileprivate func onBody(_ at: UnsafePointer<CChar>?, _ length: Int) -> Int32 {
        guard let at, let inputBase, length > 0 else { return 0 }
        let offset = UnsafeRawPointer(at) - inputBase
        if let slice = input.getSlice(at: input.readerIndex + offset, length: length) { parts.append(.body(slice)) }
        return 0
    }

    fileprivate func onMessageComplete() -> Int32 {
        phase = .idle
        inMessage = false
        parts.append(.end)
        // nodejs/llhttp#202 (as NIO does): a stale length must not leak into the next message.
        parser.pointee.content_length = 0
        return 0
    }

    /// The first Host field's value, without surrounding spaces and tabs.
    private static func firstHost(_ bytes: UnsafeRawBufferPointer, _ fields: [(name: Int, value: Int, end: Int)]) -> UnsafeRawBufferPointer? {
        for field in fields where field.value - field.name == 4 {
            guard equalBytesIgnoringCase(UnsafeRawBufferPointer(rebasing: bytes[field.name..<field.value]), "host") else { continue }
            return trimmingWhitespace(UnsafeRawBufferPointer(rebasing: bytes[field.value..<field.end]))
        }
        return nil
    }

    private func refuse(_ error: HTTPParserError, _ reason: String) -> Int32 {
        failure = error
        failureReason = reason
        return -1
    }

    // MARK: - Mapping

    private static func method(_ raw: UInt8) -> HTTPMethod {
        switch UInt32(raw) {
        case HTTP_GET.rawValue: return .GET
        case HTTP_POST.rawValue: return .POST
        case HTTP_PUT.rawValue: return .PUT
        case HTTP_DELETE.rawValue: return .DELETE
        case HTTP_HEAD.rawValue: return .HEAD
        case HTTP_PATCH.rawValue: return .PATCH
        case HTTP_OPTIONS.rawValue: return .OPTIONS
        case HTTP_CONNECT.rawValue: return .CONNECT
        case HTTP_TRACE.rawValue: return .TRACE
        default: return .RAW(value: String(cString: c_nio_llhttp_method_name(llhttp_method(rawValue: UInt32(raw)))))
        }
    }

    private static func error(_ errno: llhttp_errno_t) -> HTTPParserError {
        switch errno {
        case HPE_INVALID_METHOD: return .invalidMethod
        case HPE_INVALID_URL: return .invalidURL
        case HPE_INVALID_VERSION: return .invalidVersion
        case HPE_INVALID_HEADER_TOKEN, HPE_UNEXPECTED_SPACE: return .invalidHeaderToken
        case HPE_INVALID_CONTENT_LENGTH: return .invalidContentLength
        case HPE_UNEXPECTED_CONTENT_LENGTH: return .unexpectedContentLength
        case HPE_INVALID_CHUNK_SIZE: return .invalidChunkSize
        case HPE_LF_EXPECTED, HPE_CR_EXPECTED: return .lfExpected
        case HPE_INVALID_CONSTANT: return .invalidConstant
        case HPE_STRICT: return .strictModeAssertion
        default: return .unknown
        }
    }
}

@available(*, unavailable)
extension RequestDecoder: Sendable {}

/// The bytes of the head being parsed (target and fields, back to back), gathered
/// across llhttp's callbacks. A `[UInt8]` cost ~100 instructions an append (a
/// uniqueness and a capacity check, then a generic copy; five appends for a small
/// request) and ~190 to empty with its capacity kept; here an append is a bounds
/// check and a `memcpy`. Like that array, it keeps its capacity (at most the
/// decoder's 64 KiB head limit) for the connection's next request.
struct HeadScratch: ~Copyable {
    private var base: UnsafeMutableRawPointer?
    private(set) var count = 0
    private var capacity = 0

    init() {}

    deinit { base?.deallocate() }

    /// Valid until the next change.
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    mutating func removeAll() { count = 0 }

    mutating func append(_ source: UnsafeRawPointer, _ length: Int) {
        guard length > 0 else { return }
        if count + length > capacity { grow(to: count + length) }
        (base! + count).copyMemory(from: source, byteCount: length)
        count += length
    }

    private mutating func grow(to needed: Int) {
        let newCapacity = max(needed, 2 * capacity, 256)
        let grown = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 8)
        if let base {
            grown.copyMemory(from: base, byteCount: count)
            base.deallocate()
        }
        base = grown
        capacity = newCapacity
    }
}

/// The callbacks, shared by every parser (they find their decoder through `data`).
/// Written once, before any parser exists, and only read after.
nonisolated(unsafe) private let requestSettings: UnsafeMutablePointer<llhttp_settings_t> = {
    let settings = UnsafeMutablePointer<llhttp_settings_t>.allocate(capacity: 1)
    c_nio_llhttp_settings_init(settings)
    settings.pointee.on_message_begin = { p in RequestDecoder.with(p) { $0.onMessageBegin() } }
    settings.pointee.on_url = { p, a, b in RequestDecoder.with(p) { $0.onURL(a, b) } }
    settings.pointee.on_url_complete = { p in RequestDecoder.with(p) { $0.onURLComplete() } }
    settings.pointee.on_header_field = { p, a, b in RequestDecoder.with(p) { $0.onHeaderField(a, b) } }
    settings.pointee.on_header_field_complete = { p in RequestDecoder.with(p) { $0.onHeaderFieldComplete() } }
    settings.pointee.on_header_value = { p, a, b in RequestDecoder.with(p) { $0.onHeaderValue(a, b) } }
    settings.pointee.on_header_value_complete = { p in RequestDecoder.with(p) { $0.onHeaderValueComplete() } }
    settings.pointee.on_headers_complete = { p in RequestDecoder.with(p) { $0.onHeadersComplete() } }
    settings.pointee.on_body = { p, a, b in RequestDecoder.with(p) { $0.onBody(a, b) } }
    settings.pointee.on_message_complete = { p in RequestDecoder.with(p) { $0.onMessageComplete() } }
    return settings
}()
