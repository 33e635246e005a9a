import Testing

@testable import PluginHost

@Suite struct StreamMetadataTests {
    @Test func valuesAreFoundByFullKeyAndByNamespaceAndNameAndTheLatestWins() {
        var metadata = StreamMetadata()
        #expect(metadata.isEmpty)
        metadata.set("auth.consumer".utf8, "alice".utf8)
        metadata.set("auth.method".utf8, "api_key".utf8)
        metadata.set("auth.consumer".utf8, "bob".utf8)
        #expect(metadata.value("auth.consumer".utf8).map { Array($0) } == Array("bob".utf8))
        var keys: [String] = []
        metadata.forEach { key, _ in keys.append(String(decoding: key, as: UTF8.self)) }
        #expect(keys == ["auth.method", "auth.consumer"], "a key set again replaces its record")
        #expect(metadata.value("auth.method".utf8).map { Array($0) } == Array("api_key".utf8))
        #expect(metadata.value("auth.tenant".utf8) == nil)
        #expect(metadata.value("auth".utf8) == nil)
        let found = "auth".utf8.withContiguousStorageIfAvailable { ns in
            "consumer".utf8.withContiguousStorageIfAvailable { name in
                metadata.value(namespace: UnsafeRawBufferPointer(ns), name: UnsafeRawBufferPointer(name)).map { Array($0) }
            }
        }
        #expect(found == Array("bob".utf8))
    }

    @Test func updatingOneKeyManyTimesDoesNotGrowTheStore() {
        var metadata = StreamMetadata()
        for i in 0..<1000 { metadata.set("body.count".utf8, String(i % 10).utf8) }
        var records = 0
        metadata.forEach { _, _ in records += 1 }
        #expect(records == 1)
        #expect(metadata.value("body.count".utf8).map { Array($0) } == Array("9".utf8))
    }

    @Test func binaryValuesAndKeysSetFromRawBytesRoundTrip() {
        var metadata = StreamMetadata()
        let value: [UInt8] = [0, 255, 10, 13, 0x80]
        "ai".utf8.withContiguousStorageIfAvailable { ns in
            "raw".utf8.withContiguousStorageIfAvailable { name in
                value.withUnsafeBytes { metadata.set(namespace: UnsafeRawBufferPointer(ns), name: UnsafeRawBufferPointer(name), value: $0) }
            }
        }
        #expect(metadata.value("ai.raw".utf8).map { Array($0) } == value)
        var seen: [String] = []
        metadata.forEach { key, _ in seen.append(String(decoding: key, as: UTF8.self)) }
        #expect(seen == ["ai.raw"])
    }

    static func set(_ metadata: inout StreamMetadata, _ namespace: String, _ name: String, _ value: String) {
        Array(namespace.utf8).withUnsafeBytes { ns in
            Array(name.utf8).withUnsafeBytes { n in Array(value.utf8).withUnsafeBytes { metadata.set(namespace: ns, name: n, value: $0) } }
        }
    }

    static func get(_ metadata: StreamMetadata, _ namespace: String, _ name: String) -> String? {
        Array(namespace.utf8).withUnsafeBytes { ns in
            Array(name.utf8).withUnsafeBytes { n in metadata.value(namespace: ns, name: n).map { String(decoding: $0, as: UTF8.self) } }
        }
    }

    /// Found by namespace and name, where the dot is: keys of one length split
    /// differently are different keys; setting one again replaces only its record.
    @Test func namespaceAndNameFindTheirRecordAndASecondSetReplacesIt() {
        var metadata = StreamMetadata()
        Self.set(&metadata, "ab", "c", "first")
        Self.set(&metadata, "a", "bc", "second")
        Self.set(&metadata, "auth", "consumer", "")
        Self.set(&metadata, "ab", "c", "third")
        #expect(Self.get(metadata, "ab", "c") == "third")
        #expect(Self.get(metadata, "a", "bc") == "second")
        #expect(Self.get(metadata, "auth", "consumer") == "")
        #expect(Self.get(metadata, "auth", "consume") == nil)
        #expect(Self.get(metadata, "b", "c") == nil)
        var keys: [String] = []
        metadata.forEach { key, _ in keys.append(String(decoding: key, as: UTF8.self)) }
        #expect(keys == ["a.bc", "auth.consumer", "ab.c"])
    }
}
