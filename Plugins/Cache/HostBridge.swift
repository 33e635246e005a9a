import GatewayPluginSDK

/// The two host calls the cache needs and the Swift SDK does not wrap yet:
/// `headers_get` (every response header, to store them) and `send_local_reply` with a
/// binary body (a cached body is bytes, not a `String`). Both are ABI 1.0 slots; the
/// bridge calls them through the host table the entry point received.
///
/// The SDK's `Stream` is a single `OpaquePointer` (the `gw_stream *`), but that field
/// is internal; `rawStream(_:)` reads it with a size-checked bit cast. When the SDK
/// grows `Stream.headers(_:)` and a byte-body `sendLocalReply`, this file goes away
/// (docs/decisions.md).
enum HostBridge {
    /// The host table, kept by the entry point. Written once before any hook runs.
    nonisolated(unsafe) static var host: UnsafePointer<gw_host_v1>!

    /// True if the SDK's `Stream` still has the layout the bridge relies on.
    static var layoutMatches: Bool {
        MemoryLayout<Stream>.size == MemoryLayout<OpaquePointer>.size
            && MemoryLayout<Stream>.alignment == MemoryLayout<OpaquePointer>.alignment
    }

    @inline(__always)
    static func rawStream(_ stream: Stream) -> OpaquePointer {
        unsafeBitCast(stream, to: OpaquePointer.self)
    }

    /// Every header of `direction`, in order, as (lowercased name, value) pairs; nil if
    /// the host refused (wrong context).
    static func headers(_ stream: Stream, _ direction: gw_direction) -> [(name: String, value: String)]? {
        let s = rawStream(stream)
        var count = 0
        let first = host.pointee.headers_get(s, direction, nil, 0, &count)
        guard first == GW_OK || first == GW_E_BUFFER_TOO_SMALL else { return nil }
        if count == 0 { return [] }
        return withUnsafeTemporaryAllocation(of: gw_header.self, capacity: count) { list -> [(name: String, value: String)]? in
            var total = 0
            guard host.pointee.headers_get(s, direction, list.baseAddress, count, &total) == GW_OK, total == count else { return nil }
            var result: [(name: String, value: String)] = []
            result.reserveCapacity(count)
            for header in list {
                result.append((lowercased(header.name), text(header.value)))
            }
            return result
        }
    }

    /// Answer with a cached response. `headers` are views into the entry's storage;
    /// `extra` are appended (Age, X-Cache). The host copies everything.
    static func sendReply(
        _ stream: Stream, status: UInt32, headers: UnsafeBufferPointer<gw_header>, extra: [(String, String)],
        body: UnsafeRawBufferPointer, details: StaticString
    ) -> Bool {
        var storage: [UInt8] = []
        for (name, value) in extra {
            storage.append(contentsOf: name.utf8)
            storage.append(contentsOf: value.utf8)
        }
        let total = headers.count + extra.count
        return storage.withUnsafeBufferPointer { bytes in
            withUnsafeTemporaryAllocation(of: gw_header.self, capacity: total) { list in
                for (i, header) in headers.enumerated() { list[i] = header }
                let base = UnsafeRawPointer(bytes.baseAddress)?.assumingMemoryBound(to: CChar.self)
                var offset = 0
                for (i, (name, value)) in extra.enumerated() {
                    let nameLength = name.utf8.count
                    let valueLength = value.utf8.count
                    list[headers.count + i] = gw_header(
                        name: gw_str(ptr: base.map { $0 + offset }, len: nameLength),
                        value: gw_str(ptr: base.map { $0 + offset + nameLength }, len: valueLength))
                    offset += nameLength + valueLength
                }
                let detailsText = gw_str(
                    ptr: UnsafeRawPointer(details.utf8Start).assumingMemoryBound(to: CChar.self), len: details.utf8CodeUnitCount)
                let bodyBytes = gw_bytes(ptr: body.baseAddress?.assumingMemoryBound(to: UInt8.self), len: body.count)
                return host.pointee.send_local_reply(
                    rawStream(stream), status, UnsafePointer(list.baseAddress), total, bodyBytes, detailsText) == GW_OK
            }
        }
    }

    private static func text(_ s: gw_str) -> String {
        guard let ptr = s.ptr, s.len > 0 else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: ptr, count: s.len), as: UTF8.self)
    }

    private static func lowercased(_ s: gw_str) -> String {
        guard let ptr = s.ptr, s.len > 0 else { return "" }
        let bytes = UnsafeRawBufferPointer(start: ptr, count: s.len)
        return String(unsafeUninitializedCapacity: s.len) { out in
            for (i, c) in bytes.enumerated() { out[i] = c >= 65 && c <= 90 ? c + 32 : c }
            return s.len
        }
    }
}
