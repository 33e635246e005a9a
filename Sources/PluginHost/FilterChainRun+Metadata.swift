/// A stream's metadata: "namespace.name" keys with byte values, set by filters
/// (`metadata_set`) and by the host, read by later hooks and by the call log.
///
/// Kept as one flat byte array of (key length, key, value length, value) records,
/// searched linearly: a stream carries a handful of entries, and a dictionary of
/// arrays cost four allocations and a hash per access for the two that `auth` sets.
/// Setting a key again replaces its record (a filter that updates a key per body
/// chunk must not grow the store).
public struct StreamMetadata: Sendable {
    private var bytes: [UInt8] = []

    public init() {}

    public var isEmpty: Bool { bytes.isEmpty }

    /// The memory held, in bytes (0 until the first `set`).
    var capacity: Int { bytes.capacity }

    /// Use `spare` (empty) as the storage: a loop's finished run gave it back.
    mutating func adopt(_ spare: consuming [UInt8]?) { bytes.adoptSpare(spare) }

    /// The storage, leaving this empty (for `HookArena.giveBack`).
    mutating func takeStorage() -> [UInt8] { bytes.takeAll() }

    /// Set `key` ("namespace.name") to `value`.
    public mutating func set(_ key: some Collection<UInt8>, _ value: some Collection<UInt8>) {
        remove { $0.elementsEqual(key) }
        if bytes.isEmpty { bytes.reserveCapacity(256) }
        Self.appendLength(key.count, to: &bytes)
        bytes.append(contentsOf: key)
        Self.appendLength(value.count, to: &bytes)
        bytes.append(contentsOf: value)
    }

    /// Set `namespace.name` to `value` without building the joined key.
    mutating func set(namespace: UnsafeRawBufferPointer, name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        if let found = record(namespace: namespace, name: name) { bytes.removeSubrange(found.record) }
        if bytes.isEmpty { bytes.reserveCapacity(256) }
        let keyLength = namespace.count + 1 + name.count
        bytes.appendComposed(count: 8 + keyLength + value.count) { out in
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

    /// The latest value of `key`, if set.
    public func value(_ key: some Collection<UInt8>) -> ArraySlice<UInt8>? {
        var found: ArraySlice<UInt8>?
        forEach { k, v in if k.elementsEqual(key) { found = v } }
        return found
    }

    /// The value of `namespace.name`, if set.
    func value(namespace: UnsafeRawBufferPointer, name: UnsafeRawBufferPointer) -> ArraySlice<UInt8>? {
        record(namespace: namespace, name: name).map { bytes[$0.value] }
    }

    /// The record of `namespace.name` (keys are unique: `set` removes the old one), and
    /// where its value is. Read in place: a walk by slices retained and released the
    /// storage twice per record.
    private func record(namespace: UnsafeRawBufferPointer, name: UnsafeRawBufferPointer) -> (record: Range<Int>, value: Range<Int>)? {
        let keyCount = namespace.count + 1 + name.count
        return bytes.withUnsafeBytes { raw in
            var i = 0
            while i < raw.count {
                let start = i
                let keyLength = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i, as: UInt32.self)))
                let keyAt = i + 4
                i = keyAt + keyLength
                let valueLength = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i, as: UInt32.self)))
                let valueAt = i + 4
                i = valueAt + valueLength
                if keyLength == keyCount && raw[keyAt + namespace.count] == UInt8(ascii: ".")
                    && sameBytes(UnsafeRawBufferPointer(rebasing: raw[keyAt..<keyAt + namespace.count]), namespace)
                    && sameBytes(UnsafeRawBufferPointer(rebasing: raw[keyAt + namespace.count + 1..<keyAt + keyCount]), name)
                {
                    return (start..<i, valueAt..<i)
                }
            }
            return nil
        }
    }

    /// Drop the record whose key matches (there is at most one).
    private mutating func remove(where matches: (ArraySlice<UInt8>) -> Bool) {
        var i = 0
        while i < bytes.count {
            let start = i
            let keyCount = Self.length(bytes, at: &i)
            let key = bytes[i..<i + keyCount]
            i += keyCount
            let valueCount = Self.length(bytes, at: &i)
            i += valueCount
            if matches(key) {
                bytes.removeSubrange(start..<i)
                return
            }
        }
    }

    /// Every record (a key set again moves to the end).
    public func forEach(_ body: (ArraySlice<UInt8>, ArraySlice<UInt8>) -> Void) {
        var i = 0
        while i < bytes.count {
            let keyCount = Self.length(bytes, at: &i)
            let key = bytes[i..<i + keyCount]
            i += keyCount
            let valueCount = Self.length(bytes, at: &i)
            body(key, bytes[i..<i + valueCount])
            i += valueCount
        }
    }

    /// Lengths as 4 bytes, little-endian.
    private static func appendLength(_ count: Int, to bytes: inout [UInt8]) {
        let value = UInt32(truncatingIfNeeded: count)
        bytes.append(UInt8(value & 0xff))
        bytes.append(UInt8(value >> 8 & 0xff))
        bytes.append(UInt8(value >> 16 & 0xff))
        bytes.append(UInt8(value >> 24))
    }

    private static func length(_ bytes: [UInt8], at i: inout Int) -> Int {
        let value = Int(bytes[i]) | Int(bytes[i + 1]) << 8 | Int(bytes[i + 2]) << 16 | Int(bytes[i + 3]) << 24
        i += 4
        return value
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
