/// A stream's metadata: "namespace.name" keys with byte values, set by filters
/// (`metadata_set`) and by the host, read by later hooks and by the call log.
///
/// Kept as one flat byte array of (key length, key, value length, value) records,
/// searched linearly: a stream carries a handful of entries, and a dictionary of
/// arrays cost four allocations and a hash per access for the two that `auth` sets.
/// Setting a key again replaces its record (a filter that updates a key per body
/// chunk must not grow the store).
public struct StreamMetadata: Sendable {
    private var bytes = FilledBytes()

    public init() {}

    public var isEmpty: Bool { bytes.isEmpty }

    /// The memory held, in bytes (0 until the first `set`).
    var capacity: Int { bytes.capacity }

    /// Use `spare` (a filled array) as the storage: a loop's finished run gave it back.
    mutating func adopt(_ spare: consuming [UInt8]?) { bytes.adopt(spare) }

    /// The storage, leaving this empty (for `HookArena.giveBack`).
    mutating func takeStorage() -> [UInt8] { bytes.take() }

    /// Set `key` ("namespace.name") to `value`.
    public mutating func set(_ key: some Collection<UInt8>, _ value: some Collection<UInt8>) {
        let key = Array(key)
        let value = Array(value)
        guard let dot = key.firstIndex(of: UInt8(ascii: ".")) else {
            // Not "namespace.name": kept whole, found only by `value(_:)`.
            if let found = record(matching: key) { bytes.removeSubrange(found.record) }
            key.withUnsafeBytes { k in value.withUnsafeBytes { v in append(key: k, value: v) } }
            return
        }
        key.withUnsafeBytes { k in
            value.withUnsafeBytes { v in
                set(
                    namespace: UnsafeRawBufferPointer(rebasing: k[0..<dot]),
                    name: UnsafeRawBufferPointer(rebasing: k[(dot + 1)...]), value: v)
            }
        }
    }

    /// Set `namespace.name` to `value` without building the joined key. `spares`: the
    /// loop's arena, whose given-back memory the first set uses (taken inside this one
    /// access: read through the run first, the storage was retained and released).
    mutating func set(
        namespace: UnsafeRawBufferPointer, name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, spares: HookArena? = nil
    ) {
        if let spares, bytes.capacity == 0 { bytes.adopt(spares.takeSpare()) }
        if let found = record(namespace: namespace, name: name) { bytes.removeSubrange(found.record) }
        let keyLength = namespace.count + 1 + name.count
        bytes.append(count: 8 + keyLength + value.count) { out in
            var at = out
            at.storeBytes(of: UInt32(truncatingIfNeeded: keyLength).littleEndian, as: UInt32.self)
            at += 4
            at.copy(namespace)
            at.storeBytes(of: UInt8(ascii: "."), as: UInt8.self)
            at += 1
            at.copy(name)
            at.storeBytes(of: UInt32(truncatingIfNeeded: value.count).littleEndian, as: UInt32.self)
            at += 4
            at.copy(value)
        }
    }

    private mutating func append(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        bytes.append(count: 8 + key.count + value.count) { out in
            var at = out
            at.storeBytes(of: UInt32(truncatingIfNeeded: key.count).littleEndian, as: UInt32.self)
            at += 4
            at.copy(key)
            at.storeBytes(of: UInt32(truncatingIfNeeded: value.count).littleEndian, as: UInt32.self)
            at += 4
            at.copy(value)
        }
    }

    /// The latest value of `key` ("namespace.name"), if set.
    public func value(_ key: some Collection<UInt8>) -> [UInt8]? {
        let key = Array(key)
        return record(matching: key).map { found in bytes.withUnsafeBytes { Array($0[found.value]) } }
    }

    /// The value of `namespace.name`, if set.
    func value(namespace: UnsafeRawBufferPointer, name: UnsafeRawBufferPointer) -> [UInt8]? {
        withValue(namespace: namespace, name: name) { Array($0) }
    }

    /// `body` with the value of `namespace.name`, borrowed; nil if it is not set.
    func withValue<R>(namespace: UnsafeRawBufferPointer, name: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> R) -> R? {
        guard let found = record(namespace: namespace, name: name) else { return nil }
        return bytes.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[found.value])) }
    }

    /// The record of `namespace.name` (keys are unique: `set` removes the old one), and
    /// where its value is, read in place.
    private func record(namespace: UnsafeRawBufferPointer, name: UnsafeRawBufferPointer) -> (record: Range<Int>, value: Range<Int>)? {
        let keyCount = namespace.count + 1 + name.count
        return firstRecord { raw, key in
            key.count == keyCount && raw[key.lowerBound + namespace.count] == UInt8(ascii: ".")
                && sameBytes(UnsafeRawBufferPointer(rebasing: raw[key.lowerBound..<key.lowerBound + namespace.count]), namespace)
                && sameBytes(UnsafeRawBufferPointer(rebasing: raw[key.lowerBound + namespace.count + 1..<key.upperBound]), name)
        }
    }

    private func record(matching key: [UInt8]) -> (record: Range<Int>, value: Range<Int>)? {
        key.withUnsafeBytes { wanted in
            firstRecord { raw, at in sameBytes(UnsafeRawBufferPointer(rebasing: raw[at]), wanted) }
        }
    }

    /// The first record whose key (its range in the bytes) `matches`.
    private func firstRecord(
        _ matches: (UnsafeRawBufferPointer, Range<Int>) -> Bool
    ) -> (record: Range<Int>, value: Range<Int>)? {
        bytes.withUnsafeBytes { raw in
            var i = 0
            while i < raw.count {
                let start = i
                let keyLength = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i, as: UInt32.self)))
                let keyAt = i + 4
                i = keyAt + keyLength
                let valueLength = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i, as: UInt32.self)))
                let valueAt = i + 4
                i = valueAt + valueLength
                if matches(raw, keyAt..<keyAt + keyLength) { return (start..<i, valueAt..<i) }
            }
            return nil
        }
    }

    /// Every record, key and value borrowed (a key set again moves to the end).
    public func forEach(_ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) -> Void) {
        bytes.withUnsafeBytes { raw in
            var i = 0
            while i < raw.count {
                let keyLength = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i, as: UInt32.self)))
                let key = UnsafeRawBufferPointer(rebasing: raw[i + 4..<i + 4 + keyLength])
                i += 4 + keyLength
                let valueLength = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i, as: UInt32.self)))
                body(key, UnsafeRawBufferPointer(rebasing: raw[i + 4..<i + 4 + valueLength]))
                i += 4 + valueLength
            }
        }
    }
}

extension FilterChainRun {
    /// Host-side metadata (for example the AI call's usage and cost), readable by the
    /// filters' later hooks and by the call log. `key` is "namespace.name".
    public func setMetadata(_ key: String, _ value: String) {
        metadata.set(key.utf8, value.utf8)
    }

    /// A metadata value as text ("auth.consumer").
    public func metadataString(_ key: String) -> String? {
        metadata.value(key.utf8).map { String(decoding: $0, as: UTF8.self) }
    }
}
