import NIOCore

/// A Redis reply (RESP2).
enum RESPValue: Sendable, Equatable {
    case simple(String)
    case error(String)
    case integer(Int64)
    case bulk([UInt8]?)
    case array([RESPValue]?)

    var integer: Int64? {
        switch self {
        case .integer(let n): return n
        case .bulk(let bytes?): return Int64(String(decoding: bytes, as: UTF8.self))
        default: return nil
        }
    }
}

/// One argument of a command: text, or binary bytes (values stored verbatim).
enum RESPArgument: Sendable {
    case text(String)
    case bytes([UInt8])
}

/// RESP2 framing: commands out as arrays of bulk strings, replies in incrementally.
enum RESP {
    static func encode(_ args: [RESPArgument], into buffer: inout ByteBuffer) {
        buffer.writeString("*\(args.count)\r\n")
        for arg in args {
            switch arg {
            case .text(let text):
                buffer.writeString("$\(text.utf8.count)\r\n")
                buffer.writeString(text)
            case .bytes(let bytes):
                buffer.writeString("$\(bytes.count)\r\n")
                buffer.writeBytes(bytes)
            }
            buffer.writeString("\r\n")
        }
    }

    /// Nesting deeper than this is garbage, not a Redis reply.
    static let maxDepth = 8

    /// One complete reply from the front of `buffer` (consumed), nil if more bytes are needed.
    static func decode(_ buffer: inout ByteBuffer, depth: Int = 0) throws -> RESPValue? {
        guard depth < maxDepth else { throw RESPError("reply nested too deeply") }
        let saved = buffer.readerIndex
        guard let type = buffer.readInteger(as: UInt8.self) else { return nil }
        guard let line = readLine(&buffer) else {
            buffer.moveReaderIndex(to: saved)
            return nil
        }
        switch type {
        case UInt8(ascii: "+"): return .simple(line)
        case UInt8(ascii: "-"): return .error(line)
        case UInt8(ascii: ":"):
            guard let n = Int64(line) else { throw RESPError("bad integer") }
            return .integer(n)
        case UInt8(ascii: "$"):
            guard let length = Int(line), length >= -1, length <= 512 * 1024 * 1024 else { throw RESPError("bad bulk length") }
            if length == -1 { return .bulk(nil) }
            guard buffer.readableBytes >= length + 2, let bytes = buffer.readBytes(length: length) else {
                buffer.moveReaderIndex(to: saved)
                return nil
            }
            buffer.moveReaderIndex(forwardBy: 2)
            return .bulk(bytes)
        case UInt8(ascii: "*"):
            guard let count = Int(line), count >= -1, count <= 1_000_000 else { throw RESPError("bad array length") }
            if count == -1 { return .array(nil) }
            var items: [RESPValue] = []
            for _ in 0..<count {
                guard let item = try decode(&buffer, depth: depth + 1) else {
                    buffer.moveReaderIndex(to: saved)
                    return nil
                }
                items.append(item)
            }
            return .array(items)
        default:
            throw RESPError("unknown reply type \(type)")
        }
    }

    private static func readLine(_ buffer: inout ByteBuffer) -> String? {
        let view = buffer.readableBytesView
        guard let cr = view.firstIndex(of: UInt8(ascii: "\r")), cr + 1 < view.endIndex, view[cr + 1] == UInt8(ascii: "\n") else {
            return nil
        }
        let line = buffer.readString(length: cr - view.startIndex)
        buffer.moveReaderIndex(forwardBy: 2)
        return line
    }
}

struct RESPError: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}
