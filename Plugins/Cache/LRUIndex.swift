/// A byte-bounded least-recently-used index: a dictionary from key to a node of a
/// doubly linked list kept in an array (indices, not references: no per-node object,
/// no reference counting while relinking). Every operation is O(1) except eviction,
/// which is O(evicted). Pure value type; the store puts it behind a lock.
struct LRUIndex {
    private struct Node {
        var key: CacheKey
        var object: CacheObject?
        var cost: Int
        var newer: Int
        var older: Int
    }

    var maxBytes: Int
    private(set) var bytes = 0
    private var nodes: [Node] = []
    private var free: [Int] = []
    private var index: [CacheKey: Int] = [:]
    /// Most and least recently used nodes (-1 when empty).
    private var newest = -1
    private var oldest = -1

    init(maxBytes: Int) {
        self.maxBytes = maxBytes
    }

    var count: Int { index.count }

    /// The object under `key`, marked most recently used.
    mutating func touch(_ key: CacheKey) -> CacheObject? {
        guard let i = index[key] else { return nil }
        unlink(i)
        linkNewest(i)
        return nodes[i].object
    }

    /// Insert or replace; returns what was evicted (or replaced) so the caller can
    /// release it outside its lock. An object larger than the whole bound is not stored.
    mutating func insert(_ key: CacheKey, _ object: CacheObject, cost: Int) -> [CacheObject] {
        var dropped: [CacheObject] = []
        if let old = remove(key) { dropped.append(old) }
        guard cost <= maxBytes else {
            dropped.append(object)
            return dropped
        }
        let i: Int
        if let reused = free.popLast() {
            i = reused
            nodes[i] = Node(key: key, object: object, cost: cost, newer: -1, older: -1)
        } else {
            i = nodes.count
            nodes.append(Node(key: key, object: object, cost: cost, newer: -1, older: -1))
        }
        index[key] = i
        bytes += cost
        linkNewest(i)
        dropped += evict()
        return dropped
    }

    /// Remove `key`; returns its object.
    @discardableResult
    mutating func remove(_ key: CacheKey) -> CacheObject? {
        guard let i = index.removeValue(forKey: key) else { return nil }
        unlink(i)
        bytes -= nodes[i].cost
        let object = nodes[i].object
        nodes[i].object = nil
        free.append(i)
        return object
    }

    /// Drop least recently used objects until within `maxBytes`.
    mutating func evict() -> [CacheObject] {
        var dropped: [CacheObject] = []
        while bytes > maxBytes && oldest >= 0 {
            if let object = remove(nodes[oldest].key) { dropped.append(object) }
        }
        return dropped
    }

    /// Keys from most to least recently used (for tests and debugging).
    var keysByRecency: [CacheKey] {
        var result: [CacheKey] = []
        var i = newest
        while i >= 0 {
            result.append(nodes[i].key)
            i = nodes[i].older
        }
        return result
    }

    private mutating func unlink(_ i: Int) {
        let newer = nodes[i].newer
        let older = nodes[i].older
        if newer >= 0 { nodes[newer].older = older } else { newest = older }
        if older >= 0 { nodes[older].newer = newer } else { oldest = newer }
        nodes[i].newer = -1
        nodes[i].older = -1
    }

    private mutating func linkNewest(_ i: Int) {
        nodes[i].older = newest
        nodes[i].newer = -1
        if newest >= 0 { nodes[newest].newer = i }
        newest = i
        if oldest < 0 { oldest = i }
    }
}
