import CGatewayPlugin
import Logging
import NIOCore
import NIOHTTP1

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Facts about a stream that the server knows and plugins may read.
public struct StreamInfo: Sendable {
    public var scheme: String
    public var clientAddress: String
    /// The request id as gw keeps it: a string is made only when asked for
    /// (`requestID`), which most streams never are.
    public var id: RequestID
    public var routeName: String
    public var upstreamName: String

    public var requestID: String {
        get { id.string }
        set { id = RequestID(given: newValue) }
    }

    public init(scheme: String, clientAddress: String, id: RequestID, routeName: String, upstreamName: String) {
        self.scheme = scheme
        self.clientAddress = clientAddress
        self.id = id
        self.routeName = routeName
        self.upstreamName = upstreamName
    }

    public init(scheme: String, clientAddress: String, requestID: String, routeName: String, upstreamName: String) {
        self.init(scheme: scheme, clientAddress: clientAddress, id: RequestID(given: requestID), routeName: routeName, upstreamName: upstreamName)
    }
}

/// A reply a filter sends instead of the upstream's.
public struct LocalReply: Sendable {
    public var status: HTTPResponseStatus
    public var headers: HTTPHeaders
    public var body: ByteBuffer
    public var details: String
}

/// A filter that failed, under failure mode `closed`.
public struct FilterFailure: Error, Sendable, CustomStringConvertible {
    public let filter: String
    public let plugin: String
    public let reason: String
    public var description: String { "filter \(filter) (plugin \(plugin)) failed: \(reason)" }
}

/// Which way data flows; matches `gw_direction`.
public enum FlowDirection: Int, Sendable {
    case request = 0
    case response = 1
}

/// What the server does with the outcomes of a filter run. Called on the stream's loop.
public protocol FilterChainRunDelegate: AnyObject {
    /// Every request header hook passed: send `run.requestHead` upstream.
    func filterRunRequestHeadersDone(_ run: FilterChainRun)
    /// Request body bytes ready for the upstream (`end`: the request is complete).
    func filterRun(_ run: FilterChainRun, forwardRequestBody body: ByteBuffer, end: Bool)
    /// Every response header hook passed: send `run.responseBytes` (the received head
    /// with the filters' changes) or else `run.responseHead` downstream.
    func filterRunResponseHeadersDone(_ run: FilterChainRun)
    /// Response body bytes ready for the client.
    func filterRun(_ run: FilterChainRun, forwardResponseBody body: ByteBuffer, end: Bool)
    /// A filter answered; the upstream exchange (if any) must be abandoned.
    func filterRun(_ run: FilterChainRun, sendLocalReply reply: LocalReply)
    /// A fail-closed filter failed: answer 500 (or reset if the response started).
    func filterRun(_ run: FilterChainRun, failed failure: FilterFailure)
    /// A filter reset the stream, or a held body outgrew its limit.
    func filterRun(_ run: FilterChainRun, reset reason: String, status: HTTPResponseStatus)
    /// A request header hook asked for the whole body before the headers go on
    /// (`GW_BUFFER`): a client waiting for `100 Continue` must be told to send it.
    func filterRunCollectsRequestBody(_ run: FilterChainRun)
}

extension FilterChainRunDelegate {
    /// Nothing to tell by default (a delegate that never answers `Expect: 100-continue`).
    public func filterRunCollectsRequestBody(_ run: FilterChainRun) {}
}

/// One stream's pass through a route's filter chain: request hooks in chain order,
/// response hooks in reverse, with pause/resume, body buffering and SSE framing.
///
/// Loop-bound: every method runs on `loop`. The object's address is the
/// `gw_stream *` plugins receive.
public final class FilterChainRun {
    public let chain: FilterChain
    public let loop: any EventLoop
    /// Strong until `finish()`, which breaks the cycle with the server's exchange.
    public var delegate: (any FilterChainRunDelegate)?
    /// The request head, for the upstream once the request hooks passed. A head the
    /// server gave as lines (`requestBytes`) is made into NIO's type on first access.
    public var requestHead: HTTPRequestHead {
        get {
            materializeRequestHead()
            return storedRequestHead
        }
        set {
            requestBytes = nil
            storedRequestHead = newValue
        }
    }
    var storedRequestHead: HTTPRequestHead
    /// The request head as lines with the filters' changes (`init(requestBytes:)`);
    /// nil once something needed it as NIO's type, and after `finish()`.
    public internal(set) var requestBytes: RequestHeadBytes?
    /// `body` with the request's lines where the run keeps them (nil when it holds no
    /// lines): `if let bytes = run.requestBytes` copies them, a retain and a release
    /// of each buffer through Optional's generic value witnesses.
    public func withRequestBytes<R>(_ body: (inout RequestHeadBytes) -> R) -> R? {
        guard requestBytes != nil else { return nil }
        return body(&requestBytes!)
    }
    /// The method the upstream gets (a filter may change it), without making the head
    /// NIO's type.
    public var requestMethod: HTTPMethod { requestBytes?.method ?? storedRequestHead.method }
    /// The response head once the upstream's arrived, unless it is kept as bytes
    /// (`responseBytes`, then this is nil until something needs it as NIO's type).
    public internal(set) var responseHead: HTTPResponseHead?
    /// The response head as received plus the filters' changes (`startResponse(bytes:)`);
    /// released by `finish()`.
    public internal(set) var responseBytes: ResponseHeadBytes?
    public var info: StreamInfo
    /// The lines the last `header_get` found, per direction (`HeaderLines.NameLines`):
    /// a `header_remove` or `header_set` of the same name uses them instead of walking
    /// the lines again. Each direction's lines are fixed once made, so they stay right.
    var notedRequestLines: HeaderLines.NameLines?
    var notedResponseLines: HeaderLines.NameLines?
    /// Per-request metadata shared by filters (and read by the call log).
    public internal(set) var metadata = StreamMetadata()
    /// Largest body a filter may hold (GW_BUFFER, pauses) before the stream fails.
    public let bufferLimit: Int
    /// A path a filter sets is normalised as the received one was (`PathNormalizer`;
    /// the config's `normalize_paths` and `encoded_slashes`).
    public var normalizesPaths = true
    public var encodedSlashes = PathNormalizer.EncodedSlashes.keep
    let services: HostServices

    /// Each filter's instance (`filter_new`), by chain index. Raw memory: an array of
    /// this element type is not prespecialized, so creating one looked up its generic
    /// metadata at run time (~100 ns per stream).
    let instances: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    /// Filters skipped after a failure (failure mode `open`); empty until the first one.
    var skippedFlags: [Bool] = []
    /// Request (0) and response (1) state, in memory of their own: an array would
    /// check uniqueness (copy-on-write) on every one of the many small updates.
    let directions: UnsafeMutablePointer<DirectionState>
    var terminated = false
    var finished = false
    var hookDepth = 0
    var currentFilter = -1
    let currentBody: UnsafeMutablePointer<ByteBuffer?>
    var currentBodyTouched = false
    var pendingReply: LocalReply?
    var pendingReset: String?
    var continueRequested = false
    let arena: HookArena
    /// The loop's thread, if the run was made on it: host calls check that they come
    /// from it by comparing thread handles (`onLoop`), not through the loop's
    /// existential `inEventLoop` (a witness call, ~20 instructions).
    let loopThread: pthread_t?
    var asyncHandles: [AsyncHandle] = []
    var nextCalloutID: UInt64 = 1

    /// Create the filters (`filter_new`) for a new stream.
    public init(
        chain: FilterChain, loop: any EventLoop, requestHead: HTTPRequestHead, info: StreamInfo,
        services: HostServices, bufferLimit: Int, arena: HookArena? = nil
    ) {
        self.arena = arena ?? HookArena()
        self.chain = chain
        self.loop = loop
        self.storedRequestHead = requestHead
        self.info = info
        self.services = services
        self.bufferLimit = bufferLimit
        loopThread = loop.inEventLoop ? pthread_self() : nil
        // One allocation for the two direction states, the two current bodies and the
        // instances, from malloc (16-byte aligned, more than they need): Swift's
        // `allocate` always takes the aligned allocator (posix_memalign) on Linux.
        // Runs of chains up to `pooledFilters` long take a block of one size, which the
        // loop's arena keeps when the run goes (`deinit`) for the next run.
        let stateBytes = Self.stateBytes
        let bodyBytes = Self.bodyBytes
        let pooled = chain.filters.count <= Self.pooledFilters
        let memory: UnsafeMutableRawPointer
        if pooled, let spare = self.arena.takeRunBlock() {
            memory = spare
        } else {
            let byteCount = pooled ? Self.pooledBlockBytes : stateBytes + bodyBytes + chain.filters.count * MemoryLayout<UnsafeMutableRawPointer?>.stride
            guard let fresh = malloc(byteCount) else { fatalError("out of memory") }
            memory = fresh
        }
        directions = memory.bindMemory(to: DirectionState.self, capacity: 2)
        currentBody = (memory + stateBytes).bindMemory(to: ByteBuffer?.self, capacity: 2)
        instances = (memory + stateBytes + bodyBytes).bindMemory(to: UnsafeMutableRawPointer?.self, capacity: max(chain.filters.count, 1))
        instances.initialize(repeating: nil, count: max(chain.filters.count, 1))
        directions.initialize(to: DirectionState())
        (directions + 1).initialize(to: DirectionState())
        currentBody.initialize(to: nil)
        (currentBody + 1).initialize(to: nil)
    }

    /// A run whose request head is lines the server wrote (`RequestHeadBytes`).
    public convenience init(
        chain: FilterChain, loop: any EventLoop, requestBytes: RequestHeadBytes, info: StreamInfo,
        services: HostServices, bufferLimit: Int, arena: HookArena? = nil
    ) {
        self.init(
            chain: chain, loop: loop, requestHead: Self.placeholderHead, info: info, services: services, bufferLimit: bufferLimit,
            arena: arena)
        self.requestBytes = requestBytes
    }

    /// Stands in for `storedRequestHead` while `requestBytes` holds the head (one shared
    /// value: a fresh `HTTPRequestHead` costs an allocation).
    static let placeholderHead = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/")

    /// Whether this is the run's loop's thread. A loop's thread never changes.
    @inline(__always)
    var onLoop: Bool {
        if let loopThread, pthread_equal(loopThread, pthread_self()) != 0 { return true }
        return loop.inEventLoop
    }

    /// Turn a line-form request head into `storedRequestHead`, with the filters' changes.
    func materializeRequestHead() {
        guard let bytes = requestBytes else { return }
        requestBytes = nil
        storedRequestHead = bytes.makeHead()
    }

    deinit {
        // Metadata is read until the run goes (the call log reads it after `finish`);
        // its memory serves the loop's next run. The arena is the loop's own.
        let onLoop = onLoop
        if metadata.capacity > 0 && onLoop { arena.giveBack(metadata.takeStorage()) }
        // One element at a time: `deinitialize(count: 2)` of a non-trivial type goes
        // through the runtime's generic array destroy (~100 instructions each).
        _ = directions.move()
        _ = (directions + 1).move()
        _ = currentBody.move()
        _ = (currentBody + 1).move()
        // `directions` is the start of the one allocation (see init).
        if chain.filters.count <= Self.pooledFilters && onLoop {
            arena.giveBackRunBlock(UnsafeMutableRawPointer(directions))
        } else {
            free(UnsafeMutableRawPointer(directions))
        }
    }

    // Computed, not stored: constants without a lazy-initialization check per use.
    static var stateBytes: Int { 2 * MemoryLayout<DirectionState>.stride }
    static var bodyBytes: Int { 2 * MemoryLayout<ByteBuffer?>.stride }
    static var pooledFilters: Int { 8 }
    static var pooledBlockBytes: Int { stateBytes + bodyBytes + pooledFilters * MemoryLayout<UnsafeMutableRawPointer?>.stride }

    @inline(__always)
    func isSkipped(_ index: Int) -> Bool { index < skippedFlags.count && skippedFlags[index] }

    var opaque: OpaquePointer { OpaquePointer(Unmanaged.passUnretained(self).toOpaque()) }

    static func from(_ pointer: OpaquePointer) -> FilterChainRun {
        Unmanaged<FilterChainRun>.fromOpaque(UnsafeRawPointer(pointer)).takeUnretainedValue()
    }

    /// True while the request side waits on a filter (pause, buffering): the server
    /// should stop reading from the client until it flows again.
    public var isRequestHeld: Bool {
        // Fields read one by one: a copy of the whole state would retain all it holds.
        // A filter collecting the whole body (GW_BUFFER) needs the client to keep sending.
        if !directions[0].headersComplete && directions[0].wholeBodyAt != nil { return false }
        return !directions[0].headersComplete || directions[0].extra?.bodyPause != nil
    }

    /// True while the response side waits on a filter.
    public var isResponseHeld: Bool {
        !directions[1].headersComplete || directions[1].extra?.bodyPause != nil
    }

    // MARK: - Entry points for the server

    /// Create every filter and run the request header hooks.
    public func start(endOfStream: Bool) {
        // By index, reading the two fields in place: an enumerated loop retained and
        // released the array and each filter.
        let filters = chain.filters
        for index in filters.indices {
            let instance = filters[index].table.filter_new?(filters[index].config, opaque)
            if instance == nil {
                guard handleFailure(index, reason: "filter_new returned NULL") else { return }
                continue
            }
            instances[index] = instance
        }
        directions[FlowDirection.request.rawValue].headersEndOfStream = endOfStream
        runHeaders(.request)
    }

    /// A chunk of request body from the client (`end`: the request is complete).
    public func requestBody(_ chunk: ByteBuffer, end: Bool) {
        receiveBody(.request, chunk, end: end)
    }

    /// The upstream's response head arrived.
    /// `head` is consumed: kept as the only reference, the filters' header changes
    /// do not copy it.
    public func startResponse(_ head: consuming HTTPResponseHead, endOfStream: Bool) {
        guard !terminated else { return }
        let d = FlowDirection.response.rawValue
        directions[d].headersEndOfStream = endOfStream
        // Event streams matter only to filters that take events (`usesSSE`).
        if chain.anySSE, let type = head.headers.first(name: "content-type"), type.utf8.count >= 17,
            asciiHasPrefixIgnoringCase(type, "text/event-stream")
        {
            directions[d].isEventStream = true
        }
        responseHead = consume head
        runHeaders(.response)
    }

    /// The upstream's response head arrived, kept as its bytes: filters' header
    /// changes are a delta beside them (`ResponseHeadBytes`). When the header hooks
    /// pass, `responseBytes` is still set unless a change needed `responseHead`.
    public func startResponse(bytes head: consuming ResponseHeadBytes, endOfStream: Bool) {
        guard !terminated else { return }
        let d = FlowDirection.response.rawValue
        directions[d].headersEndOfStream = endOfStream
        // Event streams matter only to filters that take events (`usesSSE`).
        if chain.anySSE {
            let contentType: StaticString = "content-type"
            head.lines.forEachValue(named: UnsafeRawBufferPointer(start: contentType.utf8Start, count: contentType.utf8CodeUnitCount)) { value in
                if value.count >= 17, equalBytesIgnoringCase(UnsafeRawBufferPointer(rebasing: value[0..<17]), "text/event-stream") {
                    directions[d].isEventStream = true
                }
                return false
            }
        }
        responseBytes = consume head
        notedResponseLines = nil
        runHeaders(.response)
    }

    /// Whether a response head (either form) is there.
    var hasResponseHead: Bool { responseHead != nil || responseBytes != nil }

    /// Turn a byte-form response head into `responseHead`, with the filters' changes.
    func materializeResponseHead() {
        guard let bytes = responseBytes else { return }
        responseBytes = nil
        responseHead = bytes.makeHead()
    }

    /// A chunk of response body from the upstream.
    public func responseBody(_ chunk: ByteBuffer, end: Bool) {
        receiveBody(.response, chunk, end: end)
    }

    /// The exchange is over (answered, failed or the client went away): call
    /// `on_stream_complete` and `filter_destroy` on every filter. Idempotent.
    public func finish() {
        guard !finished else { return }
        finished = true
        terminated = true
        for d in 0..<2 { directions[d].extra?.pauseTimer?.cancel() }
        for index in chain.filters.indices {
            guard let instance = instances[index], let complete = chain.filters[index].table.on_stream_complete else { continue }
            withHook(index) { complete(instance, opaque) }
        }
        for handle in asyncHandles { handle.invalidate() }
        asyncHandles.removeAll()
        // A byte-form response head is a slice of the upstream connection's read
        // buffer: held past the exchange (the run lives until its exchange is freed),
        // it made the next read on that connection allocate a fresh buffer.
        // Their added lines' arrays serve the loop's next runs.
        if responseBytes != nil { arena.giveBack(responseBytes!.lines.takeAdded()) }
        responseBytes = nil
        // The request's lines are a buffer the server reuses for its connection's next
        // request: released too (the server has sent them; nothing reads them after).
        if requestBytes != nil { arena.giveBack(requestBytes!.lines.takeAdded()) }
        requestBytes = nil
        defer { delegate = nil }
        for index in chain.filters.indices {
            guard let instance = instances[index] else { continue }
            chain.filters[index].table.filter_destroy?(instance)
            instances[index] = nil
        }
    }

    // MARK: - Hook plumbing

    /// Run `body` as a hook of filter `index`: host calls that need [HOOK] work inside.
    @inline(__always)
    func withHook<R>(_ index: Int, _ body: () -> R) -> R {
        let previous = currentFilter
        currentFilter = index
        hookDepth += 1
        defer {
            hookDepth -= 1
            currentFilter = previous
            if hookDepth == 0 { arena.reset() }
        }
        return body()
    }

    enum Outcome {
        case proceed, buffer, pause, stop
    }

    /// Turn a raw status into an outcome; `nil` means the filter failed (already handled:
    /// the caller continues if the filter was skipped, see `handleFailure`).
    func interpret(_ raw: UInt32, filter index: Int, allowBuffer: Bool = true) -> Outcome? {
        if pendingReply != nil || pendingReset != nil { return .stop }
        switch raw {
        case GW_CONTINUE.rawValue: return .proceed
        case GW_PAUSE.rawValue: return .pause
        case GW_BUFFER.rawValue where allowBuffer: return .buffer
        case GW_STOP.rawValue:
            _ = handleFailure(index, reason: "returned GW_STOP without sending a reply")
            return nil
        default:
            _ = handleFailure(index, reason: "returned unknown status \(raw)")
            return nil
        }
    }

    /// Apply the filter's failure mode. Returns true if the chain goes on (filter skipped).
    @discardableResult
    func handleFailure(_ index: Int, reason: String) -> Bool {
        let filter = chain.filters[index]
        services.logger.warning(
            "filter failed",
            metadata: [
                "gw.filter": "\(filter.name)", "gw.plugin": "\(filter.plugin.name)", "error.message": "\(reason)",
                "gw.request.id": "\(info.requestID)", "gw.failure_mode": "\(filter.failureMode.rawValue)",
            ])
        switch filter.failureMode {
        case .open:
            if skippedFlags.isEmpty { skippedFlags = Array(repeating: false, count: chain.filters.count) }
            skippedFlags[index] = true
            return true
        case .closed:
            guard !terminated else { return false }
            terminated = true
            for d in 0..<2 { directions[d].extra?.pauseTimer?.cancel() }
            delegate?.filterRun(self, failed: FilterFailure(filter: filter.name, plugin: filter.plugin.name, reason: reason))
            return false
        }
    }

    /// If a filter replied or reset during the last hook, deliver it. Returns true if so.
    func deliverPendingReply() -> Bool {
        if let reason = pendingReset {
            pendingReset = nil
            terminated = true
            delegate?.filterRun(self, reset: reason, status: .internalServerError)
            return true
        }
        if let reply = pendingReply {
            pendingReply = nil
            terminated = true
            for d in 0..<2 { directions[d].extra?.pauseTimer?.cancel() }
            delegate?.filterRun(self, sendLocalReply: reply)
            return true
        }
        return false
    }

    /// Order of filter indices for a direction: request in chain order, response reversed.
    @inline(__always)
    func filterIndex(_ direction: FlowDirection, _ position: Int) -> Int {
        direction == .request ? position : chain.filters.count - 1 - position
    }
}

@available(*, unavailable)
extension FilterChainRun: Sendable {}

/// ASCII case-insensitive prefix test; `lowerPrefix` must be lowercase.
@inline(__always)
func asciiHasPrefixIgnoringCase(_ value: String, _ lowerPrefix: String) -> Bool {
    var a = value.utf8.makeIterator()
    for expected in lowerPrefix.utf8 {
        guard var c = a.next() else { return false }
        if c >= 65 && c <= 90 { c += 32 }
        if c != expected { return false }
    }
    return true
}
