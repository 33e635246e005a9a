import CGatewayPlugin

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Memory for "hook-borrowed" views handed to plugins: values are copied in, never
/// moved, and the whole arena is recycled when the outermost hook returns.
///
/// Loop-bound. One arena per event loop is shared by every stream on it (hooks of
/// two streams never nest), so a request allocates no arena memory of its own.
public final class HookArena {
    public init() {}

    private static let blockSize = 4096
    private var blocks: [UnsafeMutableRawBufferPointer] = []
    private var used = 0

    deinit {
        for block in blocks { block.deallocate() }
        for block in spareRunBlocks { free(block) }
    }

    /// Memory of finished runs' state (`FilterChainRun.init`), all of one size, for
    /// the next runs on the loop. At most as many as a loop has runs in one batch of
    /// events is useful; more would only hold memory.
    private var spareRunBlocks: [UnsafeMutableRawPointer] = []

    func takeRunBlock() -> UnsafeMutableRawPointer? { spareRunBlocks.popLast() }

    /// Keep `block` (from `malloc`, `FilterChainRun.pooledBlockBytes`) or free it.
    func giveBackRunBlock(_ block: UnsafeMutableRawPointer) {
        if spareRunBlocks.count < Self.maxSpares { spareRunBlocks.append(block) } else { free(block) }
    }

    /// Copy `bytes` and return a view that stays valid until `reset()`.
    func store(_ bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        let count = bytes.count
        guard count > 0 else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        if blocks.isEmpty || used + count > blocks[blocks.count - 1].count {
            let block = UnsafeMutableRawBufferPointer.allocate(
                byteCount: max(Self.blockSize, count), alignment: 8)
            blocks.append(block)
            used = 0
        }
        let block = blocks[blocks.count - 1]
        let destination = UnsafeMutableRawBufferPointer(rebasing: block[used..<(used + count)])
        destination.copyMemory(from: bytes)
        used += count
        return UnsafeRawBufferPointer(destination)
    }

    func store(_ string: String) -> gw_str {
        var copy = string
        return copy.withUTF8 { utf8 in
            let view = store(UnsafeRawBufferPointer(utf8))
            return gw_str(ptr: view.baseAddress?.assumingMemoryBound(to: CChar.self), len: view.count)
        }
    }

    func store(bytes: ArraySlice<UInt8>) -> gw_bytes {
        bytes.withUnsafeBytes { raw in
            let view = store(raw)
            return gw_bytes(ptr: view.baseAddress?.assumingMemoryBound(to: UInt8.self), len: view.count)
        }
    }

    func store(bytes: [UInt8]) -> gw_bytes {
        bytes.withUnsafeBytes { raw in
            let view = store(raw)
            return gw_bytes(ptr: view.baseAddress?.assumingMemoryBound(to: UInt8.self), len: view.count)
        }
    }

    /// Byte arrays finished runs let go of (added header lines, metadata), emptied
    /// with their capacity kept, for the next runs on the loop: a filtered request
    /// then allocates none of its own.
    private var spares: [[UInt8]] = []
    private static let maxSpares = 256
    private static let maxSpareBytes = 4096

    /// An empty array with capacity, if one was given back.
    func takeSpare() -> [UInt8]? { spares.popLast() }

    /// Keep `array`'s memory for `takeSpare` (small ones, a few at most).
    func giveBack(_ array: consuming [UInt8]) {
        guard array.capacity > 0, array.capacity <= Self.maxSpareBytes, spares.count < Self.maxSpares else { return }
        array.removeAll(keepingCapacity: true)
        spares.append(consume array)
    }

    /// Forget every stored value; keeps the first block for reuse.
    func reset() {
        guard used > 0 || blocks.count > 1 else { return }
        while blocks.count > 1 { blocks.removeLast().deallocate() }
        used = 0
    }
}

extension Array where Element == UInt8 {
    /// Become `spare` (an empty array with capacity, `HookArena.takeSpare`) if this is
    /// empty. Moved in, not copied: a second reference would make the first write copy it.
    mutating func adoptSpare(_ spare: consuming [UInt8]?) {
        if isEmpty, spare != nil { self = (consume spare)! }
    }

    /// Append `count` bytes that `write` lays out, with one `append`: the parts are
    /// written into a temporary buffer (on the stack when small) first. Each
    /// `append(contentsOf:)` costs a uniqueness and capacity check and a generic
    /// copy (~100 instructions); a record of several parts pays that once.
    @inline(__always)
    mutating func appendComposed(count: Int, _ write: (UnsafeMutableRawPointer) -> Void) {
        withUnsafeTemporaryAllocation(byteCount: count, alignment: 8) { buffer in
            guard let base = buffer.baseAddress else { return }
            write(base)
            append(contentsOf: UnsafeRawBufferPointer(buffer))
        }
    }

    /// This array's memory, leaving it empty (for `HookArena.giveBack`).
    mutating func takeAll() -> [UInt8] {
        var taken: [UInt8] = []
        swap(&taken, &self)
        return taken
    }
}
