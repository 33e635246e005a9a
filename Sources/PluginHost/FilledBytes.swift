/// Bytes kept at the front of an array that is filled to its length: `count` says
/// how much of `storage` is in use. An append is a uniqueness check and a copy into
/// memory the array already owns; `Array.append(contentsOf:)` of raw bytes is a
/// generic call of ~100 instructions (capacity, uniqueness, a counted copy) per
/// piece, and emptying an array for reuse (`removeAll(keepingCapacity:)`) another.
///
/// A value type with the array's copy-on-write: a copy of a `HeaderLines` that is
/// changed gets its own storage, as it did with a plain array.
public struct FilledBytes: Sendable {
    /// The memory; its first `count` bytes are in use, the rest are zeros or
    /// leftovers of earlier use.
    @usableFromInline var storage: [UInt8] = []
    @usableFromInline var used = 0

    /// The bytes in use.
    @inlinable public var count: Int { used }

    @inlinable public init() {}

    @inlinable public var isEmpty: Bool { count == 0 }

    /// The memory held, in bytes.
    @inlinable var capacity: Int { storage.count }

    /// The bytes in use, borrowed.
    @inlinable @inline(__always)
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try storage.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
    }

    /// Append `n` bytes that `write` lays out in place.
    @inlinable @inline(__always)
    mutating func append(count n: Int, _ write: (UnsafeMutableRawPointer) -> Void) {
        if n > storage.count - used { grow(toHold: used + n) }
        let at = used
        storage.withUnsafeMutableBytes { write($0.baseAddress! + at) }
        used += n
    }

    /// Drop `range` of the bytes in use (the rest move down).
    mutating func removeSubrange(_ range: Range<Int>) {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "FilledBytes: range out of bounds")
        let tail = count - range.upperBound
        if tail > 0 {
            storage.withUnsafeMutableBytes { raw in
                let base = raw.baseAddress!
                (base + range.lowerBound).copyMemory(from: base + range.upperBound, byteCount: tail)
            }
        }
        used -= range.count
    }

    @usableFromInline
    mutating func grow(toHold needed: Int) {
        let length = max(needed, storage.count * 2, 256)
        storage.append(contentsOf: repeatElement(0, count: length - storage.count))
    }

    /// Use `spare` (a filled array, `HookArena.takeSpare`) as the storage if this
    /// holds none. Moved in, not copied: a second reference would make the first
    /// append copy it.
    mutating func adopt(_ spare: consuming [UInt8]?) {
        if storage.isEmpty, spare != nil {
            storage = (consume spare)!
            used = 0
        }
    }

    /// The storage, leaving this empty (for `HookArena.giveBack`).
    mutating func take() -> [UInt8] {
        var taken: [UInt8] = []
        swap(&taken, &storage)
        used = 0
        return taken
    }
}
