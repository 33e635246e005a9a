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

    /// 32 lowercase hex digits of `high` then `low` into the first 32 bytes of `out`.
    private static func writeHex(_ high: UInt64, _ low: UInt64, into out: UnsafeMutableRawBufferPointer) {
        let digits: StaticString = "0123456789abcdef"
        var value = high
        for i in stride(from: 15, through: 0, by: -1) {
            out[i] = digits.utf8Start[Int(value & 0xf)]
            value >>= 4
        }
        value = low
        for i in stride(from: 31, through: 16, by: -1) {
            out[i] = digits.utf8Start[Int(value & 0xf)]
            value >>= 4
        }
    }
}
