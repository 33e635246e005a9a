import NIOCore
import NIOHTTP1

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Header lines as bytes (`name: value\r\n` each, from `start` to a blank line or
/// the end of `bytes`), with the filters' changes beside them: lines removed (by
/// position) and lines added. Filters read and change them through the same host
/// calls as NIO's `HTTPHeaders`, without a string per header; the server writes the
/// lines minus the removed ones plus the added ones instead of serializing a list.
///
/// A change the delta does not model turns the head into NIO's type first
/// (`FilterChainRun.materializeRequestHead`/`materializeResponseHead`): listing
/// every header, a changed body length, a response status, the request's Host, or
/// any change to a framing or hop-by-hop header (`affectsFraming`), which the
/// server's general writers handle.
public struct HeaderLines {
    /// The lines; validated (token names, a colon, no CR/LF/NUL in values).
    public let bytes: ByteBuffer
    /// Offset of the first line in `bytes`.
    public let start: Int
    /// Lines of `bytes` removed by filters: bit i is the i-th line.
    public private(set) var removedLines: UInt64 = 0
    /// Lines added by filters, each `name: value\r\n`, in order.
    public private(set) var addedLines = FilledBytes()

    /// Which name lengths occur (bit `min(length, 63)`), in the lines or added: a name
    /// whose length is absent is not searched for (most sets add a header that is
    /// not there).
    public var nameLengths: UInt64 { receivedNameLengths | addedNameLengths }
    /// The part of `nameLengths` of the received lines, and of the added ones: a name
    /// only added is not searched for among the received lines, and the reverse.
    @usableFromInline let receivedNameLengths: UInt64
    @usableFromInline var addedNameLengths: UInt64 = 0

    /// Lines the removal mask can address.
    public static let maxLines = 64

    /// Lines the caller counted: at most `maxLines` (checked; callers with more keep
    /// the head as NIO's type). `nameLengths`: the lines' name lengths as `lengthBit`
    /// ORed together (all ones if unknown). Not failable: unwrapping an Optional
    /// copied the lines, a retain of each buffer.
    @inlinable
    public init(bytes: ByteBuffer, start: Int, lineCount: Int, nameLengths: UInt64 = .max) {
        precondition(lineCount <= Self.maxLines, "HeaderLines: more lines than the removal mask addresses")
        self.bytes = bytes
        self.start = start
        receivedNameLengths = nameLengths
    }

    /// The `nameLengths` bit of a name `count` bytes long.
    @inlinable @inline(__always)
    public static func lengthBit(_ count: Int) -> UInt64 { 1 << UInt64(min(count, 63)) }

    /// Whether a field of `name`'s length may be present.
    @inline(__always)
    func mayContain(_ name: UnsafeRawBufferPointer) -> Bool { nameLengths & Self.lengthBit(name.count) != 0 }

    /// Whether a filter removed or added anything.
    public var isEdited: Bool { removedLines != 0 || !addedLines.isEmpty }

    /// Each header as it now stands: lines not removed, then added lines, in order.
    /// `body` returns false to stop.
    public func forEachField(_ body: (_ name: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) -> Bool) {
        var going = true
        bytes.withUnsafeReadableBytes { raw in
            var line = 0
            Self.forEachLine(raw, from: start) { name, value, _ in
                defer { line += 1 }
                if removedLines & (1 << UInt64(line)) != 0 { return true }
                going = body(name, value)
                return going
            }
        }
        guard going, !addedLines.isEmpty else { return }
        addedLines.withUnsafeBytes { raw in
            Self.forEachLine(raw, from: 0) { name, value, _ in body(name, value) }
        }
    }

    /// The values of the fields named `name` (any case) as they now stand, in order:
    /// lines are told apart by name first (and their ends found with `memchr`), a
    /// value is read only where the name matches. `body` returns false to stop.
    public func forEachValue(named name: UnsafeRawBufferPointer, _ body: (_ value: UnsafeRawBufferPointer) -> Bool) {
        let bit = Self.lengthBit(name.count)
        var going = true
        if receivedNameLengths & bit != 0 {
            bytes.withUnsafeReadableBytes { raw in
                var line = 0
                Self.forEachLineRange(raw, from: start) { range in
                    defer { line += 1 }
                    guard removedLines & (1 << UInt64(line)) == 0, Self.line(raw, range, isNamed: name) else { return true }
                    going = body(Self.value(raw, line: range, nameCount: name.count))
                    return going
                }
            }
        }
        guard going, addedNameLengths & bit != 0 else { return }
        addedLines.withUnsafeBytes { raw in
            Self.forEachLineRange(raw, from: 0) { range in
                guard Self.line(raw, range, isNamed: name) else { return true }
                going = body(Self.value(raw, line: range, nameCount: name.count))
                return going
            }
        }
    }

    /// The received lines named `name` once `forEachValue` saw all of them: where the
    /// first one's name is in `bytes`, and the lines' bits (removed ones included).
    public struct NameLines {
        let nameAt: Int32
        let nameCount: Int32
        public let lines: UInt64
    }

    /// `forEachValue(named:_:)`, also returning the received lines with the name when
    /// it saw them all (`body` never returned false), for a `remove` of that name next
    /// (`remove(name:noted:)`): a filter that reads a header and then removes it,
    /// as auth does with its credential, walks the lines once.
    public func forEachValueNoting(named name: UnsafeRawBufferPointer, _ body: (_ value: UnsafeRawBufferPointer) -> Bool) -> NameLines? {
        let bit = Self.lengthBit(name.count)
        var going = true
        var noted: NameLines?
        if receivedNameLengths & bit != 0 {
            var matched: UInt64 = 0
            var firstAt = -1
            bytes.withUnsafeReadableBytes { raw in
                var line = 0
                Self.forEachLineRange(raw, from: start) { range in
                    defer { line += 1 }
                    guard Self.line(raw, range, isNamed: name) else { return true }
                    matched |= 1 << UInt64(line)
                    if firstAt < 0 { firstAt = range.lowerBound }
                    guard removedLines & (1 << UInt64(line)) == 0 else { return true }
                    going = body(Self.value(raw, line: range, nameCount: name.count))
                    return going
                }
            }
            if going && firstAt >= 0 { noted = NameLines(nameAt: Int32(firstAt), nameCount: Int32(name.count), lines: matched) }
        }
        guard going, addedNameLengths & bit != 0 else { return noted }
        addedLines.withUnsafeBytes { raw in
            Self.forEachLineRange(raw, from: 0) { range in
                guard Self.line(raw, range, isNamed: name) else { return true }
                going = body(Self.value(raw, line: range, nameCount: name.count))
                return going
            }
        }
        return going ? noted : nil
    }

    /// Whether `noted` (from these lines) is about `name`.
    public func isAbout(_ noted: NameLines, _ name: UnsafeRawBufferPointer) -> Bool {
        guard Int(noted.nameCount) == name.count, Int(noted.nameAt) + name.count <= bytes.readableBytes else { return false }
        return bytes.withUnsafeReadableBytes { raw in
            equalBytesIgnoringCase(UnsafeRawBufferPointer(rebasing: raw[Int(noted.nameAt)..<Int(noted.nameAt) + name.count]), name)
        }
    }

    /// The value of the validated line `line` (with its CRLF) whose name is
    /// `nameCount` bytes: after the colon, without surrounding spaces and tabs.
    @inline(__always)
    static func value(_ raw: UnsafeRawBufferPointer, line: Range<Int>, nameCount: Int) -> UnsafeRawBufferPointer {
        var from = line.lowerBound + nameCount + 1
        var to = line.upperBound - 2
        while from < to && (raw[from] == 32 || raw[from] == 9) { from += 1 }
        while to > from && (raw[to - 1] == 32 || raw[to - 1] == 9) { to -= 1 }
        return UnsafeRawBufferPointer(rebasing: raw[from..<to])
    }

    /// The first value of the field `name` (any case), as a string.
    public func first(_ name: String) -> String? {
        var found: String?
        var name = name
        name.withUTF8 { wanted in
            forEachValue(named: UnsafeRawBufferPointer(wanted)) { value in
                found = String(decoding: value, as: UTF8.self)
                return false
            }
        }
        return found
    }

    /// Every field as strings, with the changes applied.
    public func makeFields() -> HTTPHeaders {
        var fields: [(String, String)] = []
        fields.reserveCapacity(16)
        forEachField { name, value in
            fields.append((String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
            return true
        }
        return HTTPHeaders(fields)
    }

    /// Remove every field named `name` (ASCII case-insensitive).
    /// `noted`: what the last read of a name found (`forEachValueNoting`); if it was
    /// this name, its lines are removed without looking for them again.
    public mutating func remove(name: UnsafeRawBufferPointer, noted: NameLines? = nil) {
        let bit = Self.lengthBit(name.count)
        // No line of this length, received or added: most sets add a new header.
        guard nameLengths & bit != 0 else { return }
        if let noted, isAbout(noted, name) {
            removedLines |= noted.lines
        } else if receivedNameLengths & bit != 0 {
            var mask = removedLines
            bytes.withUnsafeReadableBytes { raw in
                var line = 0
                Self.forEachLineRange(raw, from: start) { range in
                    if Self.line(raw, range, isNamed: name) { mask |= 1 << UInt64(line) }
                    line += 1
                    return true
                }
            }
            removedLines = mask
        }
        guard !addedLines.isEmpty, addedNameLengths & bit != 0 else { return }
        // Matching lines are dropped one at a time, each search resuming where the
        // last match was (the lines after it moved there).
        var from = 0
        while true {
            var match: Range<Int>?
            addedLines.withUnsafeBytes { raw in
                Self.forEachLineRange(raw, from: from) { line in
                    guard Self.line(raw, line, isNamed: name) else { return true }
                    match = line
                    return false
                }
            }
            guard let match else { return }
            addedLines.removeSubrange(match)
            from = match.lowerBound
        }
    }

    /// Hold added lines in `spare` (a filled array, `HookArena.takeSpare`) instead of
    /// a new array.
    mutating func adopt(_ spare: consuming [UInt8]?) { addedLines.adopt(spare) }

    /// The added lines' memory, leaving none (for `HookArena.giveBack`).
    mutating func takeAdded() -> [UInt8] { addedLines.take() }

    /// Append a field (the caller checked that the name is a token and the value has
    /// no CR, LF or NUL).
    public mutating func add(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        addedNameLengths |= Self.lengthBit(name.count)
        addedLines.append(count: name.count + value.count + 4) { out in
            var at = out
            at.copy(name)
            at.storeBytes(of: 0x203a, as: UInt16.self)  // ": " (little-endian)
            at += 2
            at.copy(value)
            at.storeBytes(of: 0x0a0d, as: UInt16.self)  // CRLF
        }
    }

    /// A name whose change the delta does not carry: the framing headers, `Connection`
    /// and the hop-by-hop names the server leaves out, and `x-request-id`, which the
    /// server writes itself in responses. In a request, `host` too (the upstream's
    /// Host policy applies to it). Changing one turns the head into NIO's type.
    public static func affectsFraming(_ name: UnsafeRawBufferPointer, request: Bool = false) -> Bool {
        switch name.count {
        case 2: return equalBytesIgnoringCase(name, "te")
        case 4: return request && equalBytesIgnoringCase(name, "host")
        case 7: return equalBytesIgnoringCase(name, "trailer") || equalBytesIgnoringCase(name, "upgrade")
        case 10: return equalBytesIgnoringCase(name, "connection") || equalBytesIgnoringCase(name, "keep-alive")
        case 12: return equalBytesIgnoringCase(name, "x-request-id")
        case 14: return equalBytesIgnoringCase(name, "content-length")
        case 16: return equalBytesIgnoringCase(name, "proxy-connection")
        case 17: return equalBytesIgnoringCase(name, "transfer-encoding")
        case 18: return equalBytesIgnoringCase(name, "proxy-authenticate")
        default: return false
        }
    }

    /// Each header line's range (with its CRLF) from `start` to the blank line or the
    /// end, without reading names or values: a validated line ends at its first LF
    /// (`memchr`: a header line is mostly value, which it skips 32 bytes a step).
    /// `body` returns false to stop.
    @inlinable @inline(__always)
    public static func forEachLineRange(_ bytes: UnsafeRawBufferPointer, from start: Int, _ body: (_ line: Range<Int>) -> Bool) {
        guard let base = bytes.baseAddress else { return }
        var i = start
        while i + 1 < bytes.count && bytes[i] != 13 {
            guard let lf = memchr(base + i, 10, bytes.count - i) else { return }
            let end = base.distance(to: UnsafeRawPointer(lf)) + 1
            guard body(i..<end) else { return }
            i = end
        }
    }

    /// Whether the validated line `line` is a field named `name` (any case): its
    /// name is `name.count` bytes when a colon follows them (a token has none).
    @inlinable @inline(__always)
    public static func line(_ bytes: UnsafeRawBufferPointer, _ line: Range<Int>, isNamed name: UnsafeRawBufferPointer) -> Bool {
        let colon = line.lowerBound + name.count
        guard colon < line.upperBound, bytes[colon] == 58 else { return false }
        return equalBytesIgnoringCase(UnsafeRawBufferPointer(rebasing: bytes[line.lowerBound..<colon]), name)
    }

    /// `line(_:_:isNamed:)` with a literal name.
    @inlinable @inline(__always)
    public static func line(_ bytes: UnsafeRawBufferPointer, _ line: Range<Int>, isNamed lower: StaticString) -> Bool {
        Self.line(bytes, line, isNamed: UnsafeRawBufferPointer(start: lower.utf8Start, count: lower.utf8CodeUnitCount))
    }

    /// The index of the first colon at or after `start` in a validated line (there
    /// is one, before the line's end): eight bytes at a time where eight remain, the
    /// lowest flagged byte of a word being exact.
    @inline(__always)
    static func colon(in bytes: UnsafeRawBufferPointer, from start: Int) -> Int {
        var i = start
        if let base = bytes.baseAddress {
            while i + 8 <= bytes.count {
                let word = UInt64(littleEndian: (base + i).loadUnaligned(as: UInt64.self)) ^ 0x3a3a_3a3a_3a3a_3a3a
                let flagged = (word &- 0x0101_0101_0101_0101) & ~word & 0x8080_8080_8080_8080
                if flagged != 0 { return i + flagged.trailingZeroBitCount >> 3 }
                i += 8
            }
        }
        while bytes[i] != 58 { i += 1 }
        return i
    }

    /// Each header line of a validated head from `start` to its blank line (or the
    /// end): its name, its value without surrounding whitespace, and the line's range
    /// with its CRLF. `body` returns false to stop.
    public static func forEachLine(
        _ bytes: UnsafeRawBufferPointer, from start: Int,
        _ body: (_ name: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, _ line: Range<Int>) -> Bool
    ) {
        var i = start
        while i + 1 < bytes.count && bytes[i] != 13 {
            let lineStart = i
            i = colon(in: bytes, from: i)
            let nameEnd = i
            i += 1
            while bytes[i] == 32 || bytes[i] == 9 { i += 1 }
            let valueStart = i
            while bytes[i] != 13 { i += 1 }
            var valueEnd = i
            while valueEnd > valueStart && (bytes[valueEnd - 1] == 32 || bytes[valueEnd - 1] == 9) { valueEnd -= 1 }
            i += 2
            let name = UnsafeRawBufferPointer(rebasing: bytes[lineStart..<nameEnd])
            let value = UnsafeRawBufferPointer(rebasing: bytes[valueStart..<valueEnd])
            guard body(name, value, lineStart..<i) else { return }
        }
    }
}

extension UnsafeMutableRawPointer {
    /// Copy `bytes` here and move past them.
    @inline(__always)
    mutating func copy(_ bytes: UnsafeRawBufferPointer) {
        if let source = bytes.baseAddress, bytes.count > 0 { copyMemory(from: source, byteCount: bytes.count) }
        self += bytes.count
    }
}

/// Byte equality of two buffers (`memcmp`).
@inline(__always)
func sameBytes(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    guard a.count == b.count else { return false }
    guard a.count > 0, let x = a.baseAddress, let y = b.baseAddress else { return true }
    return memcmp(x, y, a.count) == 0
}

/// Each byte of `word` with A-Z lowered and every other byte (non-ASCII included)
/// unchanged: a byte's high bit marks "at least 'A'" and "above 'Z'" after one add
/// each (seven-bit values, so no carry crosses bytes).
@inlinable @inline(__always)
func asciiLowercased(_ word: UInt64) -> UInt64 {
    let low = word & 0x7f7f_7f7f_7f7f_7f7f
    let aboveZ = low &+ 0x2525_2525_2525_2525
    let atLeastA = low &+ 0x3f3f_3f3f_3f3f_3f3f
    let upper = atLeastA & ~aboveZ & ~word & 0x8080_8080_8080_8080
    return word | (upper >> 2)
}

/// The value of an ASCII hex digit (either case), or nil.
@inlinable @inline(__always)
public func hexDigitValue(_ b: UInt8) -> UInt8? {
    switch b {
    case 48...57: return b - 48
    case 65...70: return b - 55
    case 97...102: return b - 87
    default: return nil
    }
}

/// ASCII case-insensitive equality of two byte strings: the one implementation, for
/// the plugin host and for the server's scans of received heads.
@inlinable @inline(__always)
public func equalBytesIgnoringCase(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    let count = a.count
    guard count == b.count else { return false }
    // Eight bytes at a time, both words lowered; the last word overlaps the one before
    // it when the length is not a multiple of eight (equality still holds).
    if count >= 8, let x = a.baseAddress, let y = b.baseAddress {
        var offset = 0
        while true {
            let at = min(offset, count - 8)
            let u = asciiLowercased(UInt64(littleEndian: x.loadUnaligned(fromByteOffset: at, as: UInt64.self)))
            let v = asciiLowercased(UInt64(littleEndian: y.loadUnaligned(fromByteOffset: at, as: UInt64.self)))
            if u != v { return false }
            if at == count - 8 { return true }
            offset += 8
        }
    }
    for i in 0..<count {
        var x = a[i]
        var y = b[i]
        if x >= 65 && x <= 90 { x += 32 }
        if y >= 65 && y <= 90 { y += 32 }
        if x != y { return false }
    }
    return true
}

/// ASCII case-insensitive equality of bytes with a literal (any case).
@inlinable @inline(__always)
public func equalBytesIgnoringCase(_ a: UnsafeRawBufferPointer, _ lower: StaticString) -> Bool {
    equalBytesIgnoringCase(a, UnsafeRawBufferPointer(start: lower.utf8Start, count: lower.utf8CodeUnitCount))
}

/// A response head kept as the upstream sent it (status line, lines, blank line),
/// with the filters' changes to its lines (`HeaderLines`).
public struct ResponseHeadBytes {
    public var lines: HeaderLines
    public let status: Int
    public let version: HTTPVersion

    /// The head has at most `HeaderLines.maxLines` header lines (the caller checked).
    @inlinable
    public init(bytes: ByteBuffer, statusLineLength: Int, status: Int, version: HTTPVersion, lineCount: Int, nameLengths: UInt64 = .max) {
        lines = HeaderLines(bytes: bytes, start: statusLineLength, lineCount: lineCount, nameLengths: nameLengths)
        self.status = status
        self.version = version
    }

    /// The head as NIO's type, strings and all, with the changes applied (reason
    /// phrase normalised by status).
    public func makeHead() -> HTTPResponseHead {
        HTTPResponseHead(version: version, status: HTTPResponseStatus(statusCode: status), headers: lines.makeFields())
    }
}

/// A request head whose fields are lines the server wrote (what the upstream will
/// get, before its Host policy and framing), with the filters' changes to them
/// (`HeaderLines`) and to the method and target (attributes).
public struct RequestHeadBytes {
    public var lines: HeaderLines
    public var method: HTTPMethod
    public var uri: String
    public let version: HTTPVersion

    public init(lines: HeaderLines, method: HTTPMethod, uri: String, version: HTTPVersion) {
        self.lines = lines
        self.method = method
        self.uri = uri
        self.version = version
    }

    /// The head as NIO's type, strings and all, with the changes applied.
    public func makeHead() -> HTTPRequestHead {
        HTTPRequestHead(version: version, method: method, uri: uri, headers: lines.makeFields())
    }
}
