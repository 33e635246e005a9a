/// A loop-bound view of one HTTP exchange, valid inside hooks only.
/// Every value it returns is a Swift copy, so nothing borrowed escapes a hook.
public struct Stream {
    @usableFromInline let raw: OpaquePointer

    public enum Direction {
        case request, response
        @usableFromInline var raw: gw_direction { self == .request ? GW_REQUEST : GW_RESPONSE }
    }

    public enum Attribute {
        case method, path, query, authority, scheme, clientAddress, requestID, routeName, upstreamName, responseStatus, proto
        @usableFromInline var raw: gw_attribute {
            switch self {
            case .method: return GW_ATTR_METHOD
            case .path: return GW_ATTR_PATH
            case .query: return GW_ATTR_QUERY
            case .authority: return GW_ATTR_AUTHORITY
            case .scheme: return GW_ATTR_SCHEME
            case .clientAddress: return GW_ATTR_CLIENT_ADDRESS
            case .requestID: return GW_ATTR_REQUEST_ID
            case .routeName: return GW_ATTR_ROUTE_NAME
            case .upstreamName: return GW_ATTR_UPSTREAM_NAME
            case .responseStatus: return GW_ATTR_RESPONSE_STATUS
            case .proto: return GW_ATTR_PROTOCOL
            }
        }
    }

    @usableFromInline var host: gw_host_v1 { PluginRuntime.host.pointee }

    /// The host's view of value number `index` of header `name` and the header's
    /// number of values; nil if there is no such value. Valid until the hook returns.
    @inlinable
    func headerView(_ name: gw_str, _ direction: Direction, index: Int) -> (value: UnsafeRawBufferPointer, count: Int)? {
        var value = gw_str(ptr: nil, len: 0)
        var count = 0
        guard host.header_get(raw, direction.raw, name, index, &value, &count) == GW_OK else { return nil }
        return (UnsafeRawBufferPointer(start: value.ptr, count: value.ptr == nil ? 0 : value.len), count)
    }

    /// The host's view of metadata `namespace`/`key`; nil if it is not set.
    @inlinable
    func metadataView(_ namespace: gw_str, _ key: gw_str) -> UnsafeRawBufferPointer? {
        var value = gw_bytes(ptr: nil, len: 0)
        guard host.metadata_get(raw, namespace, key, &value) == GW_OK else { return nil }
        return UnsafeRawBufferPointer(start: value.ptr, count: value.ptr == nil ? 0 : value.len)
    }

    /// The first value of header `name`, or nil.
    @inlinable
    public func header(_ name: String, _ direction: Direction = .request) -> String? {
        var value = gw_str(ptr: nil, len: 0)
        let rc = name.withGWStr { host.header_get(raw, direction.raw, $0, 0, &value, nil) }
        return rc == GW_OK ? String(gwStr: value) : nil
    }

    /// Calls `body` with a borrowed view of value number `index` of header `name` and
    /// the number of values the header has; nil (and `body` is not called) if there is
    /// no such value. Nothing is copied; the view is valid only inside `body`.
    @inlinable
    public func withHeader<R>(
        _ name: String, _ direction: Direction = .request, index: Int = 0,
        _ body: (_ value: UnsafeRawBufferPointer, _ count: Int) throws -> R
    ) rethrows -> R? {
        guard let found = name.withGWStr({ headerView($0, direction, index: index) }) else { return nil }
        return try body(found.value, found.count)
    }

    /// Every value of header `name`, in order (empty if absent).
    public func headerValues(_ name: String, _ direction: Direction = .request) -> [String] {
        var values: [String] = []
        var index = 0
        while let value = withHeader(name, direction, index: index, { value, _ in String(decoding: value, as: UTF8.self) }) {
            values.append(value)
            index += 1
        }
        return values
    }

    @inlinable @discardableResult
    public func setHeader(_ name: String, _ value: String, _ direction: Direction = .request) -> Bool {
        name.withGWStr { n in value.withGWStr { v in host.header_set(raw, direction.raw, n, v) } } == GW_OK
    }

    /// Set a header to a decimal integer (e.g. `ratelimit-remaining`) without making a
    /// string of the name or the number.
    @inlinable @discardableResult
    public func setHeader(_ name: StaticString, _ value: Int, _ direction: Direction = .request) -> Bool {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: DecimalText.maxLength) { buffer in
            let digits = DecimalText.write(value, into: buffer)
            let n = name.gwStr
            let v = gw_str(ptr: UnsafeRawPointer(digits.baseAddress)?.assumingMemoryBound(to: CChar.self), len: digits.count)
            return host.header_set(raw, direction.raw, n, v) == GW_OK
        }
    }

    @inlinable @discardableResult
    public func addHeader(_ name: String, _ value: String, _ direction: Direction = .request) -> Bool {
        name.withGWStr { n in value.withGWStr { v in host.header_add(raw, direction.raw, n, v) } } == GW_OK
    }

    @inlinable
    public func removeHeader(_ name: String, _ direction: Direction = .request) {
        _ = name.withGWStr { host.header_remove(raw, direction.raw, $0) }
    }

    // MARK: Names and values made once (`HostString`): no conversion per call

    /// `withHeader(_:_:index:_:)` with a name made once.
    @inlinable
    public func withHeader<R>(
        _ name: HostString, _ direction: Direction = .request, index: Int = 0,
        _ body: (_ value: UnsafeRawBufferPointer, _ count: Int) throws -> R
    ) rethrows -> R? {
        guard let found = headerView(name.text, direction, index: index) else { return nil }
        return try body(found.value, found.count)
    }

    @inlinable @discardableResult
    public func setHeader(_ name: HostString, _ value: HostString, _ direction: Direction = .request) -> Bool {
        host.header_set(raw, direction.raw, name.text, value.text) == GW_OK
    }

    @inlinable @discardableResult
    public func addHeader(_ name: HostString, _ value: HostString, _ direction: Direction = .request) -> Bool {
        host.header_add(raw, direction.raw, name.text, value.text) == GW_OK
    }

    @inlinable
    public func removeHeader(_ name: HostString, _ direction: Direction = .request) {
        _ = host.header_remove(raw, direction.raw, name.text)
    }

    @inlinable
    public func setMetadata(namespace: HostString, key: HostString, value: HostString) {
        let v = value.text
        _ = host.metadata_set(raw, namespace.text, key.text, gw_bytes(ptr: UnsafeRawPointer(v.ptr)?.assumingMemoryBound(to: UInt8.self), len: v.len))
    }

    /// `withMetadata(namespace:key:_:)` with a namespace and key made once.
    @inlinable
    public func withMetadata<R>(
        namespace: HostString, key: HostString, _ body: (_ value: UnsafeRawBufferPointer) throws -> R
    ) rethrows -> R? {
        guard let value = metadataView(namespace.text, key.text) else { return nil }
        return try body(value)
    }

    // MARK: Attributes

    @inlinable
    public func attribute(_ attribute: Attribute) -> String? {
        var value = gw_str(ptr: nil, len: 0)
        return host.attribute_get(raw, attribute.raw, &value) == GW_OK ? String(gwStr: value) : nil
    }

    /// Calls `body` with a borrowed view of `attribute`; nil (and `body` is not called)
    /// if the stream has no such attribute. Nothing is copied; the view is valid only
    /// inside `body`.
    @inlinable
    public func withAttribute<R>(_ attribute: Attribute, _ body: (_ value: UnsafeRawBufferPointer) throws -> R) rethrows -> R? {
        var value = gw_str(ptr: nil, len: 0)
        guard host.attribute_get(raw, attribute.raw, &value) == GW_OK else { return nil }
        return try body(UnsafeRawBufferPointer(start: value.ptr, count: value.ptr == nil ? 0 : value.len))
    }

    @discardableResult
    public func setAttribute(_ attribute: Attribute, _ value: String) -> Bool {
        value.withGWStr { host.attribute_set(raw, attribute.raw, $0) } == GW_OK
    }

    /// The body this body hook sees (kept chunks plus the current one), copied.
    public func body(_ direction: Direction) -> [UInt8]? {
        var bytes = gw_bytes(ptr: nil, len: 0)
        guard host.body_get(raw, direction.raw, &bytes) == GW_OK else { return nil }
        guard let ptr = bytes.ptr else { return [] }
        return Array(UnsafeBufferPointer(start: ptr, count: bytes.len))
    }

    @discardableResult
    public func replaceBody(_ direction: Direction, with data: [UInt8]) -> Bool {
        data.withUnsafeBufferPointer { host.body_replace(raw, direction.raw, gw_bytes(ptr: $0.baseAddress, len: $0.count)) } == GW_OK
    }

    /// Answer the client directly; return `.stop` from the hook afterwards.
    @discardableResult
    public func sendLocalReply(status: Int, headers: [(String, String)] = [], body: String, details: String = "") -> Bool {
        // All names and values in one buffer, so every view stays valid for the call.
        var storage: [UInt8] = []
        var ranges: [(name: Int, nameLength: Int, value: Int, valueLength: Int)] = []
        for (name, value) in headers {
            let nameStart = storage.count
            storage.append(contentsOf: name.utf8)
            let valueStart = storage.count
            storage.append(contentsOf: value.utf8)
            ranges.append((nameStart, name.utf8.count, valueStart, value.utf8.count))
        }
        let bodyBytes = Array(body.utf8)
        let rc = storage.withUnsafeBufferPointer { s in
            let base = UnsafeRawPointer(s.baseAddress)?.assumingMemoryBound(to: CChar.self)
            let list = ranges.map { r in
                gw_header(
                    name: gw_str(ptr: base.map { $0 + r.name }, len: r.nameLength),
                    value: gw_str(ptr: base.map { $0 + r.value }, len: r.valueLength))
            }
            return bodyBytes.withUnsafeBufferPointer { b in
                details.withGWStr { d in
                    list.withUnsafeBufferPointer { l in
                        host.send_local_reply(raw, UInt32(clamping: status), l.baseAddress, l.count, gw_bytes(ptr: b.baseAddress, len: b.count), d)
                    }
                }
            }
        }
        return rc == GW_OK
    }

    /// Record per-request metadata for later filters and the call log (e.g. namespace
    /// "auth", key "consumer").
    @inlinable
    public func setMetadata(namespace: String, key: String, value: String) {
        _ = namespace.withGWStr { ns in
            key.withGWStr { k in
                value.withGWStr { v in
                    host.metadata_set(raw, ns, k, gw_bytes(ptr: UnsafeRawPointer(v.ptr)?.assumingMemoryBound(to: UInt8.self), len: v.len))
                }
            }
        }
    }

    @inlinable
    public func metadata(namespace: String, key: String) -> String? {
        withMetadata(namespace: namespace, key: key) { String(decoding: $0, as: UTF8.self) }
    }

    /// Calls `body` with a borrowed view of the metadata value `namespace`/`key`; nil
    /// (and `body` is not called) if it is not set. Nothing is copied; the view is
    /// valid only inside `body`.
    @inlinable
    public func withMetadata<R>(
        namespace: String, key: String, _ body: (_ value: UnsafeRawBufferPointer) throws -> R
    ) rethrows -> R? {
        guard let value = namespace.withGWStr({ ns in key.withGWStr { k in metadataView(ns, k) } }) else { return nil }
        return try body(value)
    }

    /// A handle to resume this stream from any thread after returning `.pause`.
    public func makeResumeHandle() -> ResumeHandle? {
        host.async_acquire(raw).map { ResumeHandle(raw: $0) }
    }

    /// Resume a stream this filter paused; call inside `onAsyncEvent`.
    @discardableResult
    public func `continue`() -> Bool {
        host.stream_continue(raw) == GW_OK
    }
}

/// Resumes a paused stream from any thread. Releases its reference when deinitialised.
public final class ResumeHandle: @unchecked Sendable {
    // @unchecked: gw_async is documented thread-safe ([ANY]) by the ABI.
    let raw: OpaquePointer

    init(raw: OpaquePointer) {
        self.raw = raw
    }

    deinit {
        PluginRuntime.host.pointee.async_release(raw)
    }

    /// Resume the stream on its own event loop. False if it already finished.
    @discardableResult
    public func resume() -> Bool {
        PluginRuntime.host.pointee.async_resume(raw) == GW_OK
    }

    /// Deliver `onAsyncEvent(eventID)` on the stream's loop after `delayMilliseconds`.
    @discardableResult
    public func post(eventID: UInt64, delayMilliseconds: UInt64 = 0) -> Bool {
        PluginRuntime.host.pointee.async_post(raw, eventID, nil, delayMilliseconds) == GW_OK
    }
}

extension String {
    @inlinable
    init(gwStr s: gw_str) {
        guard let ptr = s.ptr, s.len > 0 else {
            self = ""
            return
        }
        self = String(decoding: UnsafeRawBufferPointer(start: ptr, count: s.len), as: UTF8.self)
    }

    @inlinable
    func withGWStr<R>(_ body: (gw_str) throws -> R) rethrows -> R {
        var copy = self
        return try copy.withUTF8 { utf8 in
            try body(gw_str(ptr: UnsafeRawPointer(utf8.baseAddress)?.assumingMemoryBound(to: CChar.self), len: utf8.count))
        }
    }
}

extension StaticString {
    /// The literal's bytes as the ABI's string (a literal's storage lives as long as
    /// the plugin).
    @inlinable
    var gwStr: gw_str {
        gw_str(ptr: UnsafeRawPointer(utf8Start).assumingMemoryBound(to: CChar.self), len: utf8CodeUnitCount)
    }
}

/// An integer as decimal ASCII, written at the end of a caller's buffer.
public enum DecimalText {
    /// Int.min: a sign and 19 digits.
    @inlinable public static var maxLength: Int { 20 }

    /// Write `value` into the end of `buffer` (at least `maxLength` bytes); the digits.
    @inlinable
    public static func write(_ value: Int, into buffer: UnsafeMutableBufferPointer<UInt8>) -> UnsafeMutableBufferPointer<UInt8> {
        precondition(buffer.count >= maxLength)
        var n = value.magnitude
        var i = buffer.count
        repeat {
            i -= 1
            buffer[i] = UInt8(truncatingIfNeeded: 48 + n % 10)
            n /= 10
        } while n > 0
        if value < 0 {
            i -= 1
            buffer[i] = 45
        }
        return UnsafeMutableBufferPointer(rebasing: buffer[i...])
    }
}
