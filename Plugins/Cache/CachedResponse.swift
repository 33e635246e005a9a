import GatewayPluginSDK

/// One stored response. Immutable once built and shared by every event loop: a hit
/// takes a reference under the store's lock and answers from it after the lock is
/// released, so an eviction meanwhile only drops the store's reference.
///
/// The header bytes and the `gw_header` views into them are built once, here, so a
/// hit hands the host ready-made views (the host copies them).
final class CachedResponse: @unchecked Sendable {
    // @unchecked: every stored property is written in init only; the raw buffers are
    // never written after init and freed in deinit, when no reference remains.
    let status: UInt32
    let body: [UInt8]
    /// Monotonic nanoseconds when the response was received.
    let storedAt: UInt64
    /// The upstream's `Age` at that time, in seconds.
    let initialAge: UInt64
    /// Fresh until (monotonic nanoseconds).
    let freshUntil: UInt64
    /// Kept until: `freshUntil` plus the stale-if-error window (0 when stale use is
    /// forbidden by `must-revalidate` or not configured).
    let keepUntil: UInt64
    /// Bytes charged against the zone's `max_bytes`.
    let cost: Int

    private let headerBytes: UnsafeMutableRawBufferPointer
    private let headerList: UnsafeMutableBufferPointer<gw_header>

    /// Per-entry overhead charged on top of the bytes (object, list, index node).
    static let overhead = 256

    init(
        status: UInt32, headers: [(name: String, value: String)], body: [UInt8], storedAt: UInt64, initialAge: UInt64,
        freshUntil: UInt64, keepUntil: UInt64
    ) {
        self.status = status
        self.body = body
        self.storedAt = storedAt
        self.initialAge = initialAge
        self.freshUntil = freshUntil
        self.keepUntil = max(keepUntil, freshUntil)
        let byteCount = headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count }
        headerBytes = .allocate(byteCount: max(byteCount, 1), alignment: 1)
        headerList = .allocate(capacity: max(headers.count, 1))
        let base = headerBytes.baseAddress!.assumingMemoryBound(to: CChar.self)
        var offset = 0
        for (i, header) in headers.enumerated() {
            let nameStart = offset
            for c in header.name.utf8 {
                headerBytes[offset] = c
                offset += 1
            }
            let valueStart = offset
            for c in header.value.utf8 {
                headerBytes[offset] = c
                offset += 1
            }
            headerList.baseAddress!.advanced(by: i).initialize(
                to: gw_header(
                    name: gw_str(ptr: base + nameStart, len: valueStart - nameStart),
                    value: gw_str(ptr: base + valueStart, len: offset - valueStart)))
        }
        headerCount = headers.count
        cost = body.count + byteCount + headers.count * MemoryLayout<gw_header>.stride + Self.overhead
    }

    private let headerCount: Int

    deinit {
        headerBytes.deallocate()
        headerList.deallocate()
    }

    /// The stored headers as host views, valid inside `body` only.
    var headers: UnsafeBufferPointer<gw_header> {
        UnsafeBufferPointer(start: headerList.baseAddress, count: headerCount)
    }

    /// Seconds since the response left the origin (RFC 9111 §4.2.3, simplified: the
    /// upstream's Age plus the time resident here).
    func age(now: UInt64) -> UInt64 {
        initialAge + (now > storedAt ? (now - storedAt) / 1_000_000_000 : 0)
    }

    func isFresh(now: UInt64) -> Bool { now < freshUntil }

    /// Usable as a stale answer to an upstream error at `now`.
    func isUsableStale(now: UInt64) -> Bool { now < keepUntil }
}
