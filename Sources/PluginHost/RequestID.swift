import NIOCore

/// A request's id: the client's `x-request-id` when it sent a usable one, else 128
/// random bits kept as two integers. Written into heads as 32 hex digits without a
/// string; `string` makes one for the places that need it (a filter asking for
/// `GW_ATTR_REQUEST_ID`, logs, errors). Lives here so a filter run can keep it
/// without a string (`StreamInfo.id`).
public struct RequestID: Sendable, CustomStringConvertible {
    private let given: String?
    private let high: UInt64
    private let low: UInt64

    public init(given: String) {
        self.given = given
        high = 0
        low = 0
    }

    public init(high: UInt64, low: UInt64) {
        given = nil
        self.high = high
        self.low = low
    }

    public var string: String {
        if let given { return given }
        return String(unsafeUninitializedCapacity: 32) { buffer in
            Self.writeHex(high, low, into: UnsafeMutableRawBufferPointer(buffer))
            return 32
        }
    }

    public var description: String { string }

    public func write(into buffer: inout ByteBuffer) {
        if let given {
            buffer.writeString(given)
            return
        }
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 32) { out in
            Self.writeHex(high, low, into: out)
            return 32
        }
    }

    /// How many bytes `write(to:)` writes.
    public var byteCount: Int { given?.utf8.count ?? 32 }

    /// Write the id's bytes (`byteCount` of them) at `out`.
    public func write(to out: UnsafeMutableRawPointer) {
        if let given {
            var copy = given
            copy.withUTF8 { utf8 in
                if let start = utf8.baseAddress, utf8.count > 0 { out.copyMemory(from: start, byteCount: utf8.count) }
            }
            return
        }
        Self.writeHex(high, low, into: UnsafeMutableRawBufferPointer(start: out, count: 32))
    }

    /// 32 lowercase hex digits of `high` then `low` into the first 32 bytes of `out`,
    /// eight digits per step (`hexDigits`).
    private static func writeHex(_ high: UInt64, _ low: UInt64, into out: UnsafeMutableRawBufferPointer) {
        precondition(out.count >= 32)
        out.storeBytes(of: hexDigits(UInt32(truncatingIfNeeded: high >> 32)), toByteOffset: 0, as: UInt64.self)
        out.storeBytes(of: hexDigits(UInt32(truncatingIfNeeded: high)), toByteOffset: 8, as: UInt64.self)
        out.storeBytes(of: hexDigits(UInt32(truncatingIfNeeded: low >> 32)), toByteOffset: 16, as: UInt64.self)
        out.storeBytes(of: hexDigits(UInt32(truncatingIfNeeded: low)), toByteOffset: 24, as: UInt64.self)
    }

    /// The eight lowercase hex digits of `value` as the bytes of a UInt64 laid out in
    /// memory order (most significant digit first), without a loop: the nibbles are
    /// spread one per byte, then '0' is added to each, and 'a' - '0' - 10 more to those
    /// of 10 and up (a nibble n has n + 6 >= 16 exactly then).
    @inline(__always)
    static func hexDigits(_ value: UInt32) -> UInt64 {
        var x = UInt64(value)
        x = (x | x << 16) & 0x0000_FFFF_0000_FFFF
        x = (x | x << 8) & 0x00FF_00FF_00FF_00FF
        x = (x | x << 4) & 0x0F0F_0F0F_0F0F_0F0F
        let letters = ((x &+ 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101
        let ascii = x &+ 0x3030_3030_3030_3030 &+ letters &* 0x27
        // Byte k holds nibble k, least significant first; stored as a UInt64, the most
        // significant digit must come first in memory, on either byte order.
        return ascii.littleEndian.byteSwapped
    }
}
