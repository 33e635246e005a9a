import NIOCore

/// Incremental Server-Sent Events framing (WHATWG): bytes in, complete events out.
/// An event ends at a blank line (`\n\n`, `\r\n\r\n` or `\r\r`).
public struct SSEFramer {
    public init() {}

    private var pending = ByteBuffer()

    public struct Event {
        public var raw: ByteBuffer
        public var event: String
        public var id: String
        public var data: [UInt8]
    }

    /// Append a chunk; return every event it completes.
    public mutating func feed(_ chunk: ByteBuffer) -> [Event] {
        var chunk = chunk
        pending.writeBuffer(&chunk)
        var events: [Event] = []
        while let end = Self.eventEnd(in: pending) {
            guard let raw = pending.readSlice(length: end) else { break }
            events.append(Self.parse(raw))
        }
        if pending.readerIndex > 65536 { pending.discardReadBytes() }
        return events
    }

    /// Bytes left that do not yet form a complete event.
    public mutating func drain() -> ByteBuffer {
        defer { pending.clear() }
        return pending
    }

    /// Length (from the reader index) up to and including the blank line ending the first event.
    private static func eventEnd(in buffer: ByteBuffer) -> Int? {
        buffer.withUnsafeReadableBytes { bytes -> Int? in
            var i = 0
            let n = bytes.count
            while i < n {
                let c = bytes[i]
                if c == UInt8(ascii: "\n") {
                    if i + 1 < n && bytes[i + 1] == UInt8(ascii: "\n") { return i + 2 }
                    if i + 2 < n && bytes[i + 1] == UInt8(ascii: "\r") && bytes[i + 2] == UInt8(ascii: "\n") { return i + 3 }
                } else if c == UInt8(ascii: "\r") {
                    if i + 1 < n && bytes[i + 1] == UInt8(ascii: "\r") { return i + 2 }
                }
                i += 1
            }
            return nil
        }
    }

    public static func parse(_ raw: ByteBuffer) -> Event {
        var event = Event(raw: raw, event: "", id: "", data: [])
        var sawData = false
        let text = String(decoding: raw.readableBytesView, as: UTF8.self)
        for line in text.split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r" || $0 == "\r\n" }) {
            if line.hasPrefix(":") { continue }
            let field: Substring
            var value: Substring
            if let colon = line.firstIndex(of: ":") {
                field = line[..<colon]
                value = line[line.index(after: colon)...]
                if value.hasPrefix(" ") { value = value.dropFirst() }
            } else {
                field = line
                value = ""
            }
            switch field {
            case "event": event.event = String(value)
            case "id": event.id = String(value)
            case "data":
                if sawData { event.data.append(UInt8(ascii: "\n")) }
                event.data.append(contentsOf: value.utf8)
                sawData = true
            default: break
            }
        }
        return event
    }
}
