import CGatewayPlugin

/// The answer of a shared-store operation (ABI 1.1), delivered to
/// `StreamFilter.onSharedResult` on the stream's loop.
public enum SharedStoreResult: Sendable, Equatable {
    /// The store did not answer in time (Redis down or slow): nothing was changed.
    case unavailable
    /// shared_gcra: admitted or not; on refusal the limit and the wait; per limit, how
    /// far its TAT is ahead of now after the decision (nanoseconds).
    case gcra(admitted: Bool, refusedBy: Int, waitNanoseconds: UInt64, ahead: [UInt64])
    /// shared_incr: the new value; shared_set with an event: 1.
    case value(Int64)
    /// shared_get: the value, nil when absent.
    case bytes([UInt8]?)
}

/// One GCRA limit for `Stream.sharedGCRA`: emission interval and burst tolerance (ns).
public struct SharedGCRALimit: Sendable, Equatable {
    public var interval: UInt64
    public var tolerance: UInt64

    public init(interval: UInt64, tolerance: UInt64) {
        self.interval = interval
        self.tolerance = tolerance
    }
}

/// Event ids of shared-store results carry this bit, so the SDK can tell them from
/// the filter's own `ResumeHandle.post` events.
let sharedEventBit: UInt64 = 1 << 63
/// ... and shared_get results this one as well (their payload is bytes).
let sharedGetBit: UInt64 = 1 << 62

extension Stream {
    /// True if the host has the shared store (ABI 1.1 and GW_FEATURE_SHARED_STORE).
    public static var hasSharedStore: Bool {
        guard let host = PluginRuntime.host else { return false }
        let size = Int(host.pointee.struct_size)
        return size >= MemoryLayout<gw_host_v1>.offset(of: \gw_host_v1.shared_set)! + MemoryLayout<UnsafeRawPointer>.size
            && host.pointee.features & UInt64(GW_FEATURE_SHARED_STORE) != 0
    }

    /// Run GCRA on the shared store; the answer comes to `onSharedResult(eventID:)`.
    /// Return `.pause` from the hook. False if the host refused the call.
    public func sharedGCRA(key: String, limits: [SharedGCRALimit], cost: UInt32 = 1, eventID: UInt64) -> Bool {
        guard Self.hasSharedStore else { return false }
        let raw = limits.map { gw_gcra_limit(interval_ns: $0.interval, tolerance_ns: $0.tolerance) }
        return key.withGWStr { k in
            raw.withUnsafeBufferPointer { list in
                PluginRuntime.host.pointee.shared_gcra(self.raw, k, list.baseAddress!, list.count, cost, eventID | sharedEventBit) == GW_OK
            }
        }
    }

    /// Add `delta` to a shared integer; the answer comes to `onSharedResult(eventID:)`.
    public func sharedIncrement(key: String, by delta: Int64, ttlMilliseconds: UInt64, eventID: UInt64) -> Bool {
        guard Self.hasSharedStore else { return false }
        return key.withGWStr { k in
            PluginRuntime.host.pointee.shared_incr(self.raw, k, delta, ttlMilliseconds, eventID | sharedEventBit) == GW_OK
        }
    }
}

extension Stream {
    /// Read a shared value; the answer (`.bytes`) comes to `onSharedResult(eventID:)`.
    /// Event ids must be below 2^62.
    public func sharedGet(key: String, eventID: UInt64) -> Bool {
        guard Self.hasSharedStore else { return false }
        return key.withGWStr { k in
            PluginRuntime.host.pointee.shared_get(self.raw, k, eventID | sharedEventBit | sharedGetBit) == GW_OK
        }
    }

    /// Store a shared value. `eventID` nil: fire and forget (no answer, no pause needed).
    public func sharedSet(key: String, value: [UInt8], ttlMilliseconds: UInt64, eventID: UInt64? = nil) -> Bool {
        guard Self.hasSharedStore else { return false }
        return key.withGWStr { k in
            value.withUnsafeBufferPointer { bytes in
                PluginRuntime.host.pointee.shared_set(
                    self.raw, k, gw_bytes(ptr: bytes.baseAddress, len: bytes.count), ttlMilliseconds,
                    eventID.map { $0 | sharedEventBit } ?? 0) == GW_OK
            }
        }
    }
}

extension SharedStoreResult {
    /// Decode the host's gw_shared_result for the operation the event id names.
    static func decode(_ pointer: UnsafeMutableRawPointer, eventID: UInt64) -> (result: SharedStoreResult, isGCRA: Bool) {
        let r = pointer.assumingMemoryBound(to: gw_shared_result.self).pointee
        guard r.status == GW_OK else { return (.unavailable, false) }
        if eventID & sharedGetBit != 0 {
            guard r.value == 1 else { return (.bytes(nil), false) }
            let data = r.data.ptr.map { Array(UnsafeBufferPointer(start: $0, count: r.data.len)) } ?? []
            return (.bytes(data), false)
        }
        if let ahead = r.ahead_ns {
            let values = Array(UnsafeBufferPointer(start: ahead, count: Int(r.count)))
            return (.gcra(admitted: r.value == 1, refusedBy: Int(r.refused_by), waitNanoseconds: r.wait_ns, ahead: values), true)
        }
        return (.value(r.value), false)
    }
}
