import Synchronization

/// A named cache shared by every filter configured with the same `zone` (default: the
/// filter's name) and by every event loop: its store and its table of collapsed misses.
///
/// Zones outlive config reloads: the new config object acquires the zone before the old
/// one releases it, so a reload keeps the cached entries (and applies a new
/// `max_bytes`). A zone no config uses any more is dropped.
final class CacheZone: Sendable {
    let name: String
    let store: any CacheStore
    let flights = CollapseTable()

    private init(name: String, store: any CacheStore) {
        self.name = name
        self.store = store
    }

    private struct Registration {
        var zone: CacheZone
        var users: Int
    }

    private static let registry = Mutex<[String: Registration]>([:])

    /// The zone `name`, created with `maxBytes` if new; an existing zone takes the new bound.
    static func acquire(_ name: String, maxBytes: Int) -> CacheZone {
        let zone = registry.withLock { zones -> CacheZone in
            if var registration = zones[name] {
                registration.users += 1
                zones[name] = registration
                return registration.zone
            }
            let zone = CacheZone(name: name, store: MemoryCacheStore(maxBytes: maxBytes))
            zones[name] = Registration(zone: zone, users: 1)
            return zone
        }
        zone.store.setMaxBytes(maxBytes)
        return zone
    }

    /// One user of the zone is gone (its config was destroyed).
    static func release(_ name: String) {
        let dropped = registry.withLock { zones -> CacheZone? in
            guard var registration = zones[name] else { return nil }
            registration.users -= 1
            if registration.users > 0 {
                zones[name] = registration
                return nil
            }
            zones[name] = nil
            return registration.zone
        }
        _ = dropped  // its entries are freed here, after the lock
    }
}
