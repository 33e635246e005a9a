/// The host's process-wide key-value store (`kv_get`, `kv_set`, `kv_incr`,
/// `kv_delete`; feature `.sharedKV`): namespaced per plugin, values copied in and
/// out, a compare-and-swap token per entry and an optional TTL on the host's
/// monotonic clock. Usable from any thread. Declare `required: [.sharedKV]` in
/// `GatewayPluginExport.export` to rely on it; without the feature every call fails
/// with `.unsupported`.
public enum SharedKV {
    public enum Failure: Error, Equatable, Sendable {
        /// `set` with `.cas(token)` or `.absent` lost the race.
        case casMismatch
        /// `increment` on a value that is not a decimal integer.
        case notAnInteger
        /// The host does not offer the shared KV.
        case unsupported
        /// Any other `gw_result`.
        case host(Int32)

        @inlinable
        init(_ rc: gw_result) {
            switch rc {
            case GW_E_CAS_MISMATCH: self = .casMismatch
            case GW_E_UNSUPPORTED: self = .unsupported
            default: self = .host(rc)
            }
        }
    }

    /// When `set` writes.
    public enum Condition: Sendable, Equatable {
        /// Always.
        case always
        /// Only if the key is absent (or expired).
        case absent
        /// Only if the entry's token is still this one (tokens are never 0).
        case cas(UInt64)

        @usableFromInline var raw: UInt64 {
            switch self {
            case .always: return 0
            case .absent: return UInt64.max
            case .cas(let token): return token
            }
        }
    }

    /// Copy the value of `key` into `buffer` without allocating. Returns nil if the key
    /// is absent; otherwise the value's length and cas token. A `length` larger than
    /// `buffer.count` means the buffer was too small and nothing was copied.
    @inlinable
    public static func get(_ key: String, into buffer: UnsafeMutableRawBufferPointer) -> (length: Int, cas: UInt64)? {
        var length = 0
        var cas: UInt64 = 0
        let rc = key.withGWStr { k in
            PluginRuntime.host.pointee.kv_get(PluginRuntime.handle, k, buffer.baseAddress, buffer.count, &length, &cas)
        }
        switch rc {
        case GW_OK, GW_E_BUFFER_TOO_SMALL: return (length, cas)
        default: return nil
        }
    }

    /// The value of `key` and its cas token, or nil if absent.
    public static func get(_ key: String) -> (value: [UInt8], cas: UInt64)? {
        var capacity = 64
        while true {
            var value = [UInt8](repeating: 0, count: capacity)
            guard let read = value.withUnsafeMutableBytes({ get(key, into: $0) }) else { return nil }
            if read.length <= capacity {
                value.removeLast(capacity - read.length)
                return (value, read.cas)
            }
            capacity = read.length  // it grew meanwhile, or the first guess was short: again
        }
    }

    /// Store `value` under `key` if `condition` holds; returns the new cas token.
    /// `ttlMilliseconds` 0 means no expiry.
    @inlinable @discardableResult
    public static func set(
        _ key: String, _ value: UnsafeRawBufferPointer, condition: Condition = .always, ttlMilliseconds: UInt64 = 0
    ) throws(Failure) -> UInt64 {
        var token: UInt64 = 0
        let bytes = gw_bytes(ptr: value.baseAddress?.assumingMemoryBound(to: UInt8.self), len: value.count)
        let rc = key.withGWStr { k in
            PluginRuntime.host.pointee.kv_set(PluginRuntime.handle, k, bytes, condition.raw, ttlMilliseconds, &token)
        }
        guard rc == GW_OK else { throw Failure(rc) }
        return token
    }

    @discardableResult
    public static func set(
        _ key: String, _ value: [UInt8], condition: Condition = .always, ttlMilliseconds: UInt64 = 0
    ) throws(Failure) -> UInt64 {
        let result = value.withUnsafeBytes { bytes in
            Result { () throws(Failure) in try set(key, bytes, condition: condition, ttlMilliseconds: ttlMilliseconds) }
        }
        return try result.get()
    }

    /// Atomically add `delta` to the integer under `key` (absent counts as 0 and is
    /// created with `ttlMilliseconds`; an existing entry keeps its expiry). Returns the
    /// new value.
    @discardableResult
    public static func increment(_ key: String, by delta: Int64 = 1, ttlMilliseconds: UInt64 = 0) throws(Failure) -> Int64 {
        var value: Int64 = 0
        let rc = key.withGWStr { k in
            PluginRuntime.host.pointee.kv_incr(PluginRuntime.handle, k, delta, ttlMilliseconds, &value)
        }
        switch rc {
        case GW_OK: return value
        case GW_E_BAD_ARGUMENT: throw .notAnInteger
        default: throw Failure(rc)
        }
    }

    /// Remove `key` (no error if absent).
    public static func delete(_ key: String) {
        _ = key.withGWStr { PluginRuntime.host.pointee.kv_delete(PluginRuntime.handle, $0) }
    }
}
