import CGatewayPlugin

/// The answer of a shared-store operation (ABI 1.1), delivered to
/// `StreamFilter.onSharedResult` on the stream's loop.
public enum SharedStoreResult: Sendable, Equatable {
    /// The store did not answer in time (Redis down or slow): nothing was changed.
    case unavailable
    /// shared_gcra: admitted or not; on refusal the limit and the wait; per limit, how
    /// far its TAT is ahead of now after the decision (nanoseconds).
    case gcra(admitted: Bool, refusedBy: Int, waitNanoseconds: UInt64, ahead: [UInt64])
    /// shared_incr: the new value.
    case value(Int64)
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

extension Stream {
    /// True if the host has the shared store (ABI 1.1 and GW_FEATURE_SHARED_STORE).
    public static var hasSharedStore: Bool {
        guard let host = PluginRuntime.host else { return false }
        let size = Int(host.pointee.struct_size)
        return size >= MemoryLayout<gw_host_v1>.offset(of: \gw_host_v1.shared_incr)! + MemoryLayout<UnsafeRawPointer>.size
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

extension SharedStoreResult {
    /// Decode the host's gw_shared_result for an operation of kind gcra / incr.
    static func decode(_ pointer: UnsafeMutableRawPointer) -> (result: SharedStoreResult, isGCRA: Bool) {
        let r = pointer.assumingMemoryBound(to: gw_shared_result.self).pointee
        guard r.status == GW_OK else { return (.unavailable, false) }
        if let ahead = r.ahead_ns {
            let values = Array(UnsafeBufferPointer(start: ahead, count: Int(r.count)))
            return (.gcra(admitted: r.value == 1, refusedBy: Int(r.refused_by), waitNanoseconds: r.wait_ns, ahead: values), true)
        }
        return (.value(r.value), false)
    }
}
