import Testing

@testable import PluginHost

@Suite struct SharedKeyValueStoreTests {
    let store = SharedKeyValueStore()

    @Test func anUnconditionalSetIsReadBackWithItsCASToken() throws {
        let token = try store.set("k", value: Array("v1".utf8), condition: .always, ttlMilliseconds: 0)
        let entry = try #require(store.get("k"))
        #expect(entry.value == Array("v1".utf8))
        #expect(entry.cas == token)
        #expect(token != 0)
        let second = try store.set("k", value: Array("v2".utf8), condition: .always, ttlMilliseconds: 0)
        #expect(second != token, "every write changes the token")
        #expect(store.get("k")?.value == Array("v2".utf8))
    }

    @Test func compareAndSwapSucceedsOnlyWithTheCurrentToken() throws {
        let first = try store.set("k", value: [1], condition: .always, ttlMilliseconds: 0)
        let second = try store.set("k", value: [2], condition: .cas(first), ttlMilliseconds: 0)
        #expect(store.get("k")?.value == [2])
        #expect(throws: SharedKeyValueStore.KVError.casMismatch) {
            try store.set("k", value: [3], condition: .cas(first), ttlMilliseconds: 0)
        }
        #expect(store.get("k")?.value == [2], "a lost CAS leaves the value alone")
        #expect(store.get("k")?.cas == second)
        #expect(throws: SharedKeyValueStore.KVError.casMismatch) {
            try store.set("absent", value: [1], condition: .cas(first), ttlMilliseconds: 0)
        }
    }

    @Test func anAbsentOnlySetFailsWhenTheKeyExists() throws {
        _ = try store.set("k", value: [1], condition: .absent, ttlMilliseconds: 0)
        #expect(throws: SharedKeyValueStore.KVError.casMismatch) {
            try store.set("k", value: [2], condition: .absent, ttlMilliseconds: 0)
        }
        #expect(store.get("k")?.value == [1])
        store.delete("k")
        #expect(store.get("k") == nil)
        _ = try store.set("k", value: [3], condition: .absent, ttlMilliseconds: 0)
        #expect(store.get("k")?.value == [3])
    }

    @Test func anEntryExpiresAfterItsTTL() async throws {
        _ = try store.set("short", value: [1], condition: .always, ttlMilliseconds: 40)
        _ = try store.set("forever", value: [2], condition: .always, ttlMilliseconds: 0)
        #expect(store.get("short") != nil)
        try await Task.sleep(for: .milliseconds(100))
        #expect(store.get("short") == nil)
        #expect(store.get("forever")?.value == [2])
        // An expired key counts as absent.
        _ = try store.set("short", value: [3], condition: .absent, ttlMilliseconds: 0)
        #expect(store.get("short")?.value == [3])
    }

    /// Keys carry their hash: a key built again from equal text (another string
    /// object) finds the same entry; different text never does.
    @Test func aKeyBuiltAgainFromEqualTextFindsTheSameEntry() throws {
        let first = KVKey("rate_limit\u{0}route\u{1}c:" + String(repeating: "x", count: 40))
        _ = try [UInt8]([1, 2]).withUnsafeBytes { try store.set(first, bytes: $0, condition: .always, ttlMilliseconds: 0) }
        let again = KVKey("rate_limit\u{0}route\u{1}c:" + String(repeating: "x", count: 40))
        #expect(again == first)
        #expect(store.get(again)?.value == [1, 2])
        #expect(store.get("rate_limit\u{0}route\u{1}c:" + String(repeating: "x", count: 40))?.value == [1, 2])
        #expect(store.get(KVKey("rate_limit\u{0}route\u{1}c:" + String(repeating: "x", count: 39))) == nil)
        #expect(KVKey("a") != KVKey("b"))
    }

    /// A same-size rewrite reuses the entry's storage: what a reader already got stays
    /// as it was, and the new TTL replaces the old one.
    @Test func aRewriteInPlaceLeavesEarlierReadsAloneAndTakesTheNewTTL() async throws {
        _ = try store.set("k", value: [1, 2, 3, 4], condition: .always, ttlMilliseconds: 40)
        let before = try #require(store.get("k"))
        let token = try [UInt8]([9, 8, 7, 6]).withUnsafeBytes { bytes in
            try store.set("k", bytes: bytes, condition: .cas(before.cas), ttlMilliseconds: 0)
        }
        #expect(before.value == [1, 2, 3, 4], "the earlier read is a value, not a view")
        #expect(store.get("k")?.value == [9, 8, 7, 6])
        #expect(store.get("k")?.cas == token)
        _ = try store.set("k", value: [5], condition: .cas(token), ttlMilliseconds: 0)
        #expect(store.get("k")?.value == [5], "a size change replaces the storage")
        try await Task.sleep(for: .milliseconds(100))
        #expect(store.get("k")?.value == [5], "the rewrite without a TTL made the entry permanent")
    }

    @Test func incrementStartsAtZeroAndAddsDeltas() throws {
        #expect(try store.increment("n", by: 1, ttlMilliseconds: 0) == 1)
        #expect(try store.increment("n", by: 41, ttlMilliseconds: 0) == 42)
        #expect(try store.increment("n", by: -50, ttlMilliseconds: 0) == -8)
        #expect(store.get("n")?.value == Array("-8".utf8), "counters are stored as decimal text")
        _ = try store.set("m", value: Array("100".utf8), condition: .always, ttlMilliseconds: 0)
        #expect(try store.increment("m", by: 5, ttlMilliseconds: 0) == 105)
    }

    @Test func incrementKeepsTheExpiryOfAnExistingEntry() async throws {
        #expect(try store.increment("n", by: 1, ttlMilliseconds: 40) == 1)
        #expect(try store.increment("n", by: 1, ttlMilliseconds: 0) == 2)
        try await Task.sleep(for: .milliseconds(100))
        #expect(store.get("n") == nil)
        #expect(try store.increment("n", by: 1, ttlMilliseconds: 0) == 1)
    }

    @Test func incrementingANonIntegerValueIsAnError() throws {
        _ = try store.set("text", value: Array("hello".utf8), condition: .always, ttlMilliseconds: 0)
        #expect(throws: SharedKeyValueStore.KVError.notAnInteger) {
            try store.increment("text", by: 1, ttlMilliseconds: 0)
        }
        #expect(store.get("text")?.value == Array("hello".utf8))
    }

    @Test func concurrentIncrementsAreNotLost() async throws {
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<4 {
                group.addTask { [store] in
                    for _ in 0..<500 { _ = try? store.increment("c", by: 1, ttlMilliseconds: 0) }
                }
            }
        }
        #expect(store.get("c")?.value == Array("2000".utf8))
    }
}
