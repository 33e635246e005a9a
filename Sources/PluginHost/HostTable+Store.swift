import CGatewayPlugin

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// The host table's per-stream metadata and shared-store calls (see `HostTable`).

// MARK: - Metadata

/// `first` + separator + `second` as one string, built in place (one allocation
/// instead of three for two conversions and a concatenation).
private func joinedKey(_ first: UnsafeRawBufferPointer, separator: UInt8, _ second: UnsafeRawBufferPointer) -> String {
    let count = first.count + 1 + second.count
    // Invalid UTF-8 is repaired, as String(decoding:) does.
    return String(unsafeUninitializedCapacity: count) { out in
        let raw = UnsafeMutableRawBufferPointer(out)
        if !first.isEmpty { raw.baseAddress!.copyMemory(from: first.baseAddress!, byteCount: first.count) }
        raw[first.count] = separator
        if !second.isEmpty { (raw.baseAddress! + first.count + 1).copyMemory(from: second.baseAddress!, byteCount: second.count) }
        return count
    }
}

let hostMetadataSet: @convention(c) (OpaquePointer, gw_str, gw_str, gw_bytes) -> gw_result = { s, ns, key, value in
    withHookRun(s) { run in
        guard ns.len > 0, key.len > 0 else { return GW_E_BAD_ARGUMENT }
        run.metadata.set(namespace: ns.buffer, name: key.buffer, value: value.buffer, spares: run.arena)
        return GW_OK
    }
}

let hostMetadataGet: @convention(c) (OpaquePointer, gw_str, gw_str, UnsafeMutablePointer<gw_bytes>) -> gw_result = {
    s, ns, key, out in
    withHookRun(s) { run in
        let stored = run.metadata.withValue(namespace: ns.buffer, name: key.buffer) { run.arena.store($0) }
        guard let stored else { return GW_E_NOT_FOUND }
        out.pointee = gw_bytes(ptr: stored.baseAddress?.assumingMemoryBound(to: UInt8.self), len: stored.count)
        return GW_OK
    }
}

// MARK: - Shared key-value store

/// `body` with the plugin behind `p` and the store's key for its `key`: the plugin's
/// name, a NUL, the key. The last key made on a thread is kept, so a read-then-write
/// of one key (a rate limiter's bucket) makes it once. The plugin and the thread's
/// cache are lent without a retain (plugins are never unloaded; the cache lives as
/// long as its thread).
@inline(__always)
private func withKVKey(_ p: OpaquePointer, _ key: gw_str, _ body: (LoadedPlugin, KVKey) -> gw_result) -> gw_result {
    Unmanaged<LoadedPlugin>.fromOpaque(UnsafeRawPointer(p))._withUnsafeGuaranteedRef { plugin in
        KVKeyCache.current._withUnsafeGuaranteedRef { cache in
            let bytes = key.buffer
            if cache.plugin != ObjectIdentifier(plugin) || !cache.matches(bytes) {
                var name = plugin.name
                let joined = KVKey(name.withUTF8 { joinedKey(UnsafeRawBufferPointer($0), separator: 0, bytes) })
                cache.remember(plugin: ObjectIdentifier(plugin), key: bytes, joined: joined)
            }
            return body(plugin, cache.joined)
        }
    }
}

/// One thread's last `withKVKey` (plugins are never unloaded, so their identity is
/// stable). The key's bytes are kept in memory of its own: compared on every call.
private final class KVKeyCache {
    var plugin: ObjectIdentifier?
    static let maxKeyBytes = 256
    private let key = UnsafeMutableRawPointer.allocate(byteCount: KVKeyCache.maxKeyBytes, alignment: 8)
    private var keyCount = -1
    private(set) var joined = KVKey("")

    deinit { key.deallocate() }

    @inline(__always)
    func matches(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard keyCount == bytes.count else { return false }
        guard let base = bytes.baseAddress, keyCount > 0 else { return true }
        return memcmp(key, base, keyCount) == 0
    }

    func remember(plugin: ObjectIdentifier, key bytes: UnsafeRawBufferPointer, joined: KVKey) {
        guard bytes.count <= Self.maxKeyBytes else {
            self.plugin = nil
            return
        }
        self.plugin = plugin
        if let base = bytes.baseAddress, bytes.count > 0 { key.copyMemory(from: base, byteCount: bytes.count) }
        keyCount = bytes.count
        self.joined = joined
    }

    /// The calling thread's cache, not retained (its thread's slot holds it).
    @inline(__always)
    static var current: Unmanaged<KVKeyCache> {
        if let pointer = pthread_getspecific(slot) { return Unmanaged<KVKeyCache>.fromOpaque(pointer) }
        let cache = Unmanaged.passRetained(KVKeyCache())
        pthread_setspecific(slot, cache.toOpaque())
        return cache
    }

    private static let slot: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { pointer in
            if let pointer { Unmanaged<KVKeyCache>.fromOpaque(pointer).release() }
        }
        return key
    }()
}

let hostKVGet:
    @convention(c) (OpaquePointer, gw_str, UnsafeMutableRawPointer?, Int, UnsafeMutablePointer<Int>, UnsafeMutablePointer<UInt64>?) ->
        gw_result = { p, key, dst, capacity, lenOut, casOut in
            withKVKey(p, key) { plugin, name in
                guard let entry = plugin.services.kv.get(name) else { return GW_E_NOT_FOUND }
                lenOut.pointee = entry.value.count
                casOut?.pointee = entry.cas
                guard capacity >= entry.value.count else { return GW_E_BUFFER_TOO_SMALL }
                if let dst, !entry.value.isEmpty {
                    entry.value.withUnsafeBytes { dst.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                }
                return GW_OK
            }
        }

let hostKVSet:
    @convention(c) (OpaquePointer, gw_str, gw_bytes, UInt64, UInt64, UnsafeMutablePointer<UInt64>?) -> gw_result = {
        p, key, value, cas, ttl, casOut in
        withKVKey(p, key) { plugin, name in
            let condition: SharedKeyValueStore.SetCondition = cas == 0 ? .always : cas == UInt64.max ? .absent : .cas(cas)
            do {
                let token = try plugin.services.kv.set(name, bytes: value.buffer, condition: condition, ttlMilliseconds: ttl)
                casOut?.pointee = token
                return GW_OK
            } catch {
                return GW_E_CAS_MISMATCH
            }
        }
    }

let hostKVIncr: @convention(c) (OpaquePointer, gw_str, Int64, UInt64, UnsafeMutablePointer<Int64>?) -> gw_result = {
    p, key, delta, ttl, out in
    withKVKey(p, key) { plugin, name in
        do {
            out?.pointee = try plugin.services.kv.increment(name, by: delta, ttlMilliseconds: ttl)
            return GW_OK
        } catch {
            return GW_E_BAD_ARGUMENT
        }
    }
}

let hostKVDelete: @convention(c) (OpaquePointer, gw_str) -> gw_result = { p, key in
    withKVKey(p, key) { plugin, name in
        plugin.services.kv.delete(name)
        return GW_OK
    }
}

// MARK: - Shared store (ABI 1.1)

// Plain functions called from the table's closures (a global closure `let` of
// these types crashes the Swift 6.3 SendNonSendable pass in HostTable.init).
func hostSharedGCRA(
    _ s: OpaquePointer, _ key: gw_str, _ limitList: UnsafePointer<gw_gcra_limit>?, _ count: Int, _ cost: UInt32, _ eventID: UInt64
) -> gw_result {
    withHookRun(s) { run in
        guard count > 0, count <= Int(GW_GCRA_MAX_LIMITS), let limitList, key.len > 0, key.len <= 1024 else { return GW_E_BAD_ARGUMENT }
        var limits: [GCRALimit] = []
        for i in 0..<count {
            guard limitList[i].interval_ns > 0 else { return GW_E_BAD_ARGUMENT }
            limits.append(GCRALimit(interval: limitList[i].interval_ns, tolerance: limitList[i].tolerance_ns))
        }
        return run.startSharedGCRA(key: key.string, limits: limits, cost: max(cost, 1), eventID: eventID)
    }
}

func hostSharedIncr(_ s: OpaquePointer, _ key: gw_str, _ delta: Int64, _ ttl: UInt64, _ eventID: UInt64) -> gw_result {
    withHookRun(s) { run in
        guard key.len > 0, key.len <= 1024 else { return GW_E_BAD_ARGUMENT }
        return run.startSharedIncr(key: key.string, delta: delta, ttlMilliseconds: ttl, eventID: eventID)
    }
}

func hostSharedGet(_ s: OpaquePointer, _ key: gw_str, _ eventID: UInt64) -> gw_result {
    withHookRun(s) { run in
        guard key.len > 0, key.len <= 1024 else { return GW_E_BAD_ARGUMENT }
        return run.startSharedGet(key: key.string, eventID: eventID)
    }
}

func hostSharedSet(_ s: OpaquePointer, _ key: gw_str, _ value: gw_bytes, _ ttl: UInt64, _ eventID: UInt64) -> gw_result {
    withHookRun(s) { run in
        guard key.len > 0, key.len <= 1024, value.len <= 64 << 20 else { return GW_E_BAD_ARGUMENT }
        return run.startSharedSet(key: key.string, value: Array(value.buffer), ttlMilliseconds: ttl, eventID: eventID)
    }
}
