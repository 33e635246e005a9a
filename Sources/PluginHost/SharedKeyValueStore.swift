import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The process-wide key-value store behind `kv_*`: namespaced per plugin, values
/// copied in and out, a compare-and-swap token per entry and an optional TTL.
///
/// One lock around a dictionary: every operation is a lookup and a small copy.
public final class SharedKeyValueStore: Sendable {
    struct Entry {
        var value: [UInt8]
        var cas: UInt64
        var expiresAt: UInt64  // ExpiryClock ns; 0 = never
    }

    struct State {
        var entries: [KVKey: Entry] = [:]
        var nextCAS: UInt64 = 1
        var writesSinceSweep = 0

        mutating func token() -> UInt64 {
            defer { nextCAS &+= 1 }
            return nextCAS
        }

        mutating func live(_ key: KVKey, now: UInt64) -> Entry? {
            guard let entry = entries[key] else { return nil }
            if entry.expiresAt != 0 && entry.expiresAt <= now {
                entries[key] = nil
                return nil
            }
            return entry
        }

        mutating func sweepIfDue(now: UInt64) {
            writesSinceSweep += 1
            guard writesSinceSweep >= 4096 else { return }
            writesSinceSweep = 0
            entries = entries.filter { $0.value.expiresAt == 0 || $0.value.expiresAt > now }
        }
    }

    public enum SetCondition: Sendable, Equatable {
        case always
        case absent
        case cas(UInt64)
    }

    public enum KVError: Error, Equatable {
        case casMismatch, notAnInteger
    }

    private let state = Mutex(State())

    public init() {}

    public func get(_ key: String) -> (value: [UInt8], cas: UInt64)? { get(KVKey(key)) }

    public func get(_ key: KVKey) -> (value: [UInt8], cas: UInt64)? {
        let now = ExpiryClock.now()
        return state.withLock { s in s.live(key, now: now).map { ($0.value, $0.cas) } }
    }

    public func set(_ key: String, value: [UInt8], condition: SetCondition, ttlMilliseconds: UInt64) throws(KVError) -> UInt64 {
        // `withUnsafeBytes` rethrows untyped: the outcome crosses it as a Result.
        let outcome = value.withUnsafeBytes { bytes in
            Result { () throws(KVError) in try set(KVKey(key), bytes: bytes, condition: condition, ttlMilliseconds: ttlMilliseconds) }
        }
        return try outcome.get()
    }

    /// Store `bytes` under `key` if `condition` holds. An entry that exists keeps its
    /// storage when the size is unchanged (a rate limiter rewriting its bucket state on
    /// every request allocates nothing then).
    public func set(
        _ key: String, bytes: UnsafeRawBufferPointer, condition: SetCondition, ttlMilliseconds: UInt64
    ) throws(KVError) -> UInt64 {
        try set(KVKey(key), bytes: bytes, condition: condition, ttlMilliseconds: ttlMilliseconds)
    }

    public func set(
        _ key: KVKey, bytes: UnsafeRawBufferPointer, condition: SetCondition, ttlMilliseconds: UInt64
    ) throws(KVError) -> UInt64 {
        let now = ExpiryClock.now()
        let expiry = ExpiryClock.expiry(ttlMilliseconds: ttlMilliseconds, now: now)
        let result: UInt64? = state.withLock { s in
            var index = s.entries.index(forKey: key)
            if let i = index {
                let expiresAt = s.entries.values[i].expiresAt
                if expiresAt != 0 && expiresAt <= now {
                    s.entries.remove(at: i)
                    index = nil
                }
            }
            switch condition {
            case .always: break
            case .absent: if index != nil { return nil }
            case .cas(let token): if index.map({ s.entries.values[$0].cas }) != token { return nil }
            }
            let token = s.token()
            if let i = index {
                s.entries.values[i].cas = token
                s.entries.values[i].expiresAt = expiry
                if s.entries.values[i].value.count == bytes.count {
                    if bytes.count > 0 {
                        s.entries.values[i].value.withUnsafeMutableBytes { $0.copyMemory(from: bytes) }
                    }
                } else {
                    s.entries.values[i].value = Array(bytes)
                }
            } else {
                s.entries[key] = Entry(value: Array(bytes), cas: token, expiresAt: expiry)
            }
            s.sweepIfDue(now: now)
            return token
        }
        guard let result else { throw .casMismatch }
        return result
    }

    public func increment(_ key: String, by delta: Int64, ttlMilliseconds: UInt64) throws(KVError) -> Int64 {
        try increment(KVKey(key), by: delta, ttlMilliseconds: ttlMilliseconds)
    }

    public func increment(_ key: KVKey, by delta: Int64, ttlMilliseconds: UInt64) throws(KVError) -> Int64 {
        let now = ExpiryClock.now()
        let result: Int64? = state.withLock { s in
            var value: Int64 = 0
            var expiry = ExpiryClock.expiry(ttlMilliseconds: ttlMilliseconds, now: now)
            if let current = s.live(key, now: now) {
                guard let parsed = Int64(String(decoding: current.value, as: UTF8.self)) else { return nil }
                value = parsed
                expiry = current.expiresAt
            }
            value &+= delta
            let token = s.token()
            s.entries[key] = Entry(value: Array(String(value).utf8), cas: token, expiresAt: expiry)
            s.sweepIfDue(now: now)
            return value
        }
        guard let result else { throw .notAnInteger }
        return result
    }

    public func delete(_ key: String) { delete(KVKey(key)) }

    public func delete(_ key: KVKey) {
        state.withLock { _ = $0.entries.removeValue(forKey: key) }
    }
}

/// A store key with its hash computed once: the host keeps the key a plugin used last
/// (`kvKey`), and a rate limiter looks its bucket up twice per request (read, then
/// compare-and-set); hashing the string for each lookup was about a third of the
/// store's cost. The hash is `Hasher`'s, seeded per process; equality is the string's.
public struct KVKey: Hashable, Sendable {
    public let text: String
    private let hash: Int

    public init(_ text: String) {
        self.text = text
        var hasher = Hasher()
        hasher.combine(text)
        hash = hasher.finalize()
    }

    public static func == (a: KVKey, b: KVKey) -> Bool { a.hash == b.hash && a.text == b.text }

    public func hash(into hasher: inout Hasher) { hasher.combine(hash) }

    /// What the store's dictionary hashes by. `hash` is already a SipHash of the text
    /// with the process's random seed, made once per key (the host keeps the last key
    /// of a thread, so a read-then-write of one bucket makes it once): it is mixed
    /// with the table's seed here instead of being put through SipHash again on every
    /// lookup, which the default (`hash(into:)`) would do.
    public func _rawHashValue(seed: Int) -> Int { hash ^ seed }
}

/// The clock of entry expiry: CLOCK_MONOTONIC_COARSE (a read of the kernel's last
/// tick, several times cheaper than CLOCK_MONOTONIC, which matters at two store
/// calls per rate-limited request). It lags the precise clock by up to one tick,
/// so an expiry is `now() + tick + ttl` (`expiry(ttl:now:)`): an entry never goes
/// before its TTL has passed on the precise clock (GCRA state written with a TTL
/// from `MonotonicClock` times must not go early), and may outlive it by two ticks.
enum ExpiryClock {
    static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC_COARSE, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// When an entry written at `now` with `ttlMilliseconds` expires (0: never).
    static func expiry(ttlMilliseconds: UInt64, now: UInt64) -> UInt64 {
        ttlMilliseconds == 0 ? 0 : now &+ tick &+ ttlMilliseconds &* 1_000_000
    }

    /// The coarse clock's resolution (one kernel tick, 1-10 ms).
    static let tick: UInt64 = {
        var ts = timespec()
        clock_getres(CLOCK_MONOTONIC_COARSE, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }()
}

/// CLOCK_MONOTONIC in nanoseconds, without Foundation.
public enum MonotonicClock {
    public static func nanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }
}
