import GatewayPluginSDK
import Synchronization

/// Concurrent misses for one key, collapsed: the first becomes the leader and goes
/// upstream; the others register here with a resume handle and pause. When the
/// leader's response is stored (or turns out not to be), `land` hands back every
/// waiter and the leader wakes them, outside the lock.
///
/// Process-wide, one per zone. Only dictionary work happens under the lock: resume
/// handles are created before and posted/released after it (each is a host call).
final class CollapseTable: Sendable {
    struct Waiter: Sendable {
        let id: UInt64
        let handle: ResumeHandle
    }

    private struct Flight {
        var leader: UInt64
        var waiters: [Waiter] = []
    }

    private let flights = Mutex<[CacheKey: Flight]>([:])
    private static let nextID = Atomic<UInt64>(1)

    /// A process-unique id for one stream's part in a flight.
    static func makeID() -> UInt64 {
        nextID.wrappingAdd(1, ordering: .relaxed).oldValue
    }

    /// Become the leader of `key` if nobody is; false if a flight is under way.
    func lead(_ key: CacheKey, id: UInt64) -> Bool {
        flights.withLock { table in
            guard table[key] == nil else { return false }
            table[key] = Flight(leader: id)
            return true
        }
    }

    /// Join the flight of `key` as a waiter. False if it landed meanwhile (the caller
    /// keeps its handle and looks the cache up again).
    func wait(_ key: CacheKey, _ waiter: Waiter) -> Bool {
        flights.withLock { table in
            guard table[key] != nil else { return false }
            table[key]!.waiters.append(waiter)
            return true
        }
    }

    /// A waiter gives up (timeout, or its stream ended): returns its entry, to be
    /// released by the caller after the lock.
    func leave(_ key: CacheKey, id: UInt64) -> Waiter? {
        flights.withLock { table -> Waiter? in
            guard let i = table[key]?.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return table[key]!.waiters.remove(at: i)
        }
    }

    /// The leader is done with `key`: the flight ends and its waiters are returned.
    func land(_ key: CacheKey, leader id: UInt64) -> [Waiter] {
        flights.withLock { table -> [Waiter] in
            guard let flight = table[key], flight.leader == id else { return [] }
            table[key] = nil
            return flight.waiters
        }
    }

    /// Flights under way (tests, debugging).
    var count: Int { flights.withLock { $0.count } }
}
