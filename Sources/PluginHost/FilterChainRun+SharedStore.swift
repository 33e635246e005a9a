import CGatewayPlugin
import NIOCore

/// shared_gcra / shared_incr (ABI 1.1): run on the shared store, answer with
/// on_async_event on the stream's loop. Keys are namespaced by plugin.
extension FilterChainRun {
    func startSharedGCRA(key: String, limits: [GCRALimit], cost: UInt32, eventID: UInt64) -> gw_result {
        let index = currentFilter
        guard index >= 0 else { return GW_E_WRONG_CONTEXT }
        let namespaced = chain.filters[index].plugin.name + ":" + key
        let bound = NIOLoopBound(self, eventLoop: loop)
        let loop = self.loop
        // Delivered on a later loop tick, never inside the hook that asked (an
        // in-process answer is ready at once).
        services.sharedStore.store.gcra(key: namespaced, limits: limits, cost: cost, on: loop).whenComplete { result in
            loop.execute { bound.value.deliverGCRA(filter: index, eventID: eventID, result: result) }
        }
        return GW_OK
    }

    func startSharedIncr(key: String, delta: Int64, ttlMilliseconds: UInt64, eventID: UInt64) -> gw_result {
        let index = currentFilter
        guard index >= 0 else { return GW_E_WRONG_CONTEXT }
        let namespaced = chain.filters[index].plugin.name + ":" + key
        let bound = NIOLoopBound(self, eventLoop: loop)
        let loop = self.loop
        services.sharedStore.store.increment(key: namespaced, by: delta, ttlMilliseconds: ttlMilliseconds, on: loop)
            .whenComplete { result in
                loop.execute {
                    var shared = Self.result(status: GW_OK)
                    switch result {
                    case .success(let value): shared.value = value
                    case .failure: shared.status = GW_E_UNAVAILABLE
                    }
                    bound.value.deliverShared(filter: index, eventID: eventID, &shared)
                }
            }
        return GW_OK
    }

    private func deliverGCRA(filter index: Int, eventID: UInt64, result: Result<GCRAOutcome, any Error>) {
        guard case .success(let outcome) = result else {
            var shared = Self.result(status: GW_E_UNAVAILABLE)
            deliverShared(filter: index, eventID: eventID, &shared)
            return
        }
        var ahead = outcome.ahead
        let count = ahead.count
        ahead.withUnsafeMutableBufferPointer { buffer in
            var shared = Self.result(status: GW_OK)
            shared.value = outcome.admitted ? 1 : 0
            shared.wait_ns = outcome.waitNanoseconds
            shared.refused_by = UInt32(outcome.refusedBy)
            shared.count = UInt32(count)
            shared.ahead_ns = UnsafePointer(buffer.baseAddress)
            deliverShared(filter: index, eventID: eventID, &shared)
        }
    }

    func startSharedGet(key: String, eventID: UInt64) -> gw_result {
        let index = currentFilter
        guard index >= 0 else { return GW_E_WRONG_CONTEXT }
        let namespaced = chain.filters[index].plugin.name + ":" + key
        let bound = NIOLoopBound(self, eventLoop: loop)
        let loop = self.loop
        services.sharedStore.store.get(key: namespaced, on: loop).whenComplete { result in
            loop.execute {
                var shared = Self.result(status: GW_OK)
                switch result {
                case .success(let value?):
                    shared.value = 1
                    value.withUnsafeBufferPointer { bytes in
                        shared.data = gw_bytes(ptr: bytes.baseAddress, len: bytes.count)
                        bound.value.deliverShared(filter: index, eventID: eventID, &shared)
                    }
                    return
                case .success(nil): break
                case .failure: shared.status = GW_E_UNAVAILABLE
                }
                bound.value.deliverShared(filter: index, eventID: eventID, &shared)
            }
        }
        return GW_OK
    }

    func startSharedSet(key: String, value: [UInt8], ttlMilliseconds: UInt64, eventID: UInt64) -> gw_result {
        let index = currentFilter
        guard index >= 0 else { return GW_E_WRONG_CONTEXT }
        let namespaced = chain.filters[index].plugin.name + ":" + key
        let loop = self.loop
        let future = services.sharedStore.store.set(key: namespaced, value: value, ttlMilliseconds: ttlMilliseconds, on: loop)
        guard eventID != 0 else { return GW_OK }
        let bound = NIOLoopBound(self, eventLoop: loop)
        future.whenComplete { result in
            loop.execute {
                var shared = Self.result(status: GW_OK)
                switch result {
                case .success: shared.value = 1
                case .failure: shared.status = GW_E_UNAVAILABLE
                }
                bound.value.deliverShared(filter: index, eventID: eventID, &shared)
            }
        }
        return GW_OK
    }

    static func result(status: gw_result) -> gw_shared_result {
        var result = gw_shared_result()
        result.struct_size = UInt32(MemoryLayout<gw_shared_result>.size)
        result.status = status
        return result
    }

    fileprivate func deliverShared(filter index: Int, eventID: UInt64, _ result: inout gw_shared_result) {
        withUnsafeMutablePointer(to: &result) { pointer in
            deliverAsyncEvent(filter: index, eventID: eventID, data: UnsafeMutableRawPointer(pointer))
        }
    }
}
