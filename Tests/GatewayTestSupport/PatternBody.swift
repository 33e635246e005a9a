import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// A deterministic body of any length (byte at offset `i` is `i % 251`), produced and
/// checked chunk by chunk without per-byte work, so that 64 MiB transfers stay cheap
/// in debug builds.
public enum PatternBody {
    static let period = 251
    /// One block of whole periods: every block starts at phase 0.
    static let block: ByteBuffer = {
        var buffer = ByteBuffer()
        let periods = 1044  // 262_044 bytes
        buffer.reserveCapacity(period * periods)
        for _ in 0..<periods {
            for i in 0..<period { buffer.writeInteger(UInt8(i)) }
        }
        return buffer
    }()

    /// The chunks of a pattern body of `length` bytes, each at most one block (~256 KiB).
    public static func chunks(length: Int) -> [ByteBuffer] {
        var result: [ByteBuffer] = []
        var remaining = length
        while remaining > 0 {
            let n = min(remaining, block.readableBytes)
            result.append(block.getSlice(at: block.readerIndex, length: n)!)
            remaining -= n
        }
        return result
    }

    /// The chunk starting at `offset` (a multiple of the block size) of a body of `length`.
    public static func chunk(at offset: Int, length: Int) -> ByteBuffer? {
        guard offset < length else { return nil }
        let n = min(length - offset, block.readableBytes)
        return block.getSlice(at: block.readerIndex, length: n)
    }

    public static var blockSize: Int { block.readableBytes }

    /// Checks incoming bytes against the pattern, whatever the chunk boundaries.
    public struct Verifier: Sendable {
        public private(set) var length = 0
        public private(set) var matches = true

        public init() {}

        public mutating func feed(_ buffer: ByteBuffer) {
            guard matches else {
                length += buffer.readableBytes
                return
            }
            buffer.withUnsafeReadableBytes { bytes in
                var done = 0
                while done < bytes.count && matches {
                    let phase = (length + done) % PatternBody.period
                    let n = min(bytes.count - done, PatternBody.block.readableBytes - phase)
                    let equal = PatternBody.block.withUnsafeReadableBytes { expected in
                        memcmp(bytes.baseAddress! + done, expected.baseAddress! + phase, n) == 0
                    }
                    if !equal { matches = false }
                    done += n
                }
            }
            length += buffer.readableBytes
        }
    }
}
