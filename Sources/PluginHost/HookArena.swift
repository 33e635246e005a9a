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

    /// Byte arrays finished runs let go of (added header lines, metadata: the storage
    /// of `FilledBytes`, filled to their length), for the next runs on the loop: a
    /// filtered request then allocates none of its own.
    private var spares: [[UInt8]] = []
    private static let maxSpares = 256
    private static let maxSpareBytes = 4096

    /// A filled array, if one was given back.
    func takeSpare() -> [UInt8]? { spares.popLast() }

    /// Keep `array`'s memory for `takeSpare` (small ones, a few at most). Its bytes
    /// are left as they are: `FilledBytes` counts what it uses.
    func giveBack(_ array: consuming [UInt8]) {
        guard !array.isEmpty, array.count <= Self.maxSpareBytes, spares.count < Self.maxSpares else { return }
        spares.append(consume array)
    }

    /// Forget every stored value; keeps the first block for reuse.
    func reset() {
        guard used > 0 || blocks.count > 1 else { return }
        while blocks.count > 1 { blocks.removeLast().deallocate() }
        used = 0
    }
}
