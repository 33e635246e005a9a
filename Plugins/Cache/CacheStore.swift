import Synchronization

/// What a zone keeps under one key.
enum CacheObject: Sendable {
    /// A stored response.
    case response(CachedResponse)
    /// The resource varies on these request headers (lowercased, sorted): its responses
    /// live under variant keys that add the values of those headers.
    case variants(names: [String], keepUntil: UInt64)

    var keepUntil: UInt64 {
        switch self {
        case .response(let response): return response.keepUntil
        case .variants(_, let keepUntil): return keepUntil
        }
    }

    var cost: Int {
        switch self {
        case .response(let response): return response.cost
        case .variants(let names, _): return names.reduce(CachedResponse.overhead) { $0 + $1.utf8.count + 16 }
        }
    }
}

/// Where a zone's objects live with `backend: memory`. Calls are synchronous and must
/// not block. `backend: shared` does not go through this protocol: its reads are
/// asynchronous host calls (`CacheFilter+Shared.swift`) on the same keys and objects,
/// serialized as `SharedRecord`s. See docs/plugins/cache.md.
protocol CacheStore: AnyObject, Sendable {
    /// The object under `key` if it is still worth keeping at `now`.
    func get(_ key: CacheKey, now: UInt64) -> CacheObject?
    /// Store (or replace) `object` under `key`, evicting others to stay in bounds.
    func put(_ key: CacheKey, _ object: CacheObject)
    func remove(_ key: CacheKey)
    /// Change the byte bound (a reload), evicting at once if needed.
    func setMaxBytes(_ maxBytes: Int)
    var usage: (entries: Int, bytes: Int) { get }
}

/// A process-wide in-memory store: an LRU index behind a `Mutex`. Nothing but
/// dictionary and list work happens under the lock; objects dropped by an eviction
/// are released after it.
final class MemoryCacheStore: CacheStore {
    private let state: Mutex<LRUIndex>

    init(maxBytes: Int) {
        state = Mutex(LRUIndex(maxBytes: maxBytes))
    }

    func get(_ key: CacheKey, now: UInt64) -> CacheObject? {
        let (found, expired) = state.withLock { index -> (CacheObject?, CacheObject?) in
            guard let object = index.touch(key) else { return (nil, nil) }
            guard now < object.keepUntil else { return (nil, index.remove(key)) }
            return (object, nil)
        }
        _ = expired
        return found
    }

    func put(_ key: CacheKey, _ object: CacheObject) {
        let evicted = state.withLock { $0.insert(key, object, cost: object.cost) }
        _ = evicted
    }

    func remove(_ key: CacheKey) {
        let removed = state.withLock { $0.remove(key) }
        _ = removed
    }

    func setMaxBytes(_ maxBytes: Int) {
        let evicted = state.withLock { index -> [CacheObject] in
            index.maxBytes = maxBytes
            return index.evict()
        }
        _ = evicted
    }

    var usage: (entries: Int, bytes: Int) {
        state.withLock { ($0.count, $0.bytes) }
    }
}
