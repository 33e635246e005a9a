#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import GatewayPluginSDK

/// What `backend: shared` keeps under one key in the host's shared store: the same two
/// kinds of object as the memory zone, with wall-clock times (instances do not share a
/// monotonic clock).
///
/// Format, version 1 (integers little-endian; every length is checked on decode, and
/// anything that does not parse exactly to its last byte is a miss):
///
///     "gwc" 0x01 kind:u8
///     kind 1, response: status:u16 storedAtWall:u64 (ns since 1970) initialAge:u64 (s)
///                       freshFor:u64 (ns after storedAt) staleFor:u64 (ns after that)
///                       headerCount:u16 { nameLength:u16 name valueLength:u32 value }
///                       bodyLength:u32 body
///     kind 2, variants: keepUntilWall:u64 count:u8 { length:u8 name }
enum SharedRecord: Equatable {
    case response(SharedResponse)
    case variants(names: [String], keepUntilWall: UInt64)

    static let magic: [UInt8] = [0x67, 0x77, 0x63, 0x01]  // "gwc", version 1
    static let maxHeaders = 512
    static let maxVaryNames = 16

    /// Nanoseconds since 1970 (CLOCK_REALTIME).
    static func wallNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return UInt64(max(ts.tv_sec, 0)) &* 1_000_000_000 &+ UInt64(max(ts.tv_nsec, 0))
    }

    func encoded() -> [UInt8] {
        var w = Writer()
        w.bytes(Self.magic)
        switch self {
        case .response(let r):
            w.u8(1)
            w.u16(UInt16(truncatingIfNeeded: r.status))
            w.u64(r.storedAtWall)
            w.u64(r.initialAge)
            w.u64(r.freshFor)
            w.u64(r.staleFor)
            w.u16(UInt16(truncatingIfNeeded: r.headers.count))
            for (name, value) in r.headers {
                w.u16(UInt16(truncatingIfNeeded: name.utf8.count))
                w.bytes(name.utf8)
                w.u32(UInt32(truncatingIfNeeded: value.utf8.count))
                w.bytes(value.utf8)
            }
            w.u32(UInt32(truncatingIfNeeded: r.body.count))
            w.bytes(r.body)
        case .variants(let names, let keepUntilWall):
            w.u8(2)
            w.u64(keepUntilWall)
            w.u8(UInt8(truncatingIfNeeded: names.count))
            for name in names {
                w.u8(UInt8(truncatingIfNeeded: name.utf8.count))
                w.bytes(name.utf8)
            }
        }
        return w.out
    }

    /// The record in `bytes`, or nil if they are not a version-1 record (corrupt,
    /// truncated, foreign, a tombstone).
    static func decode(_ bytes: [UInt8]) -> SharedRecord? {
        var r = Reader(bytes: bytes)
        guard let magic = r.take(4), magic.elementsEqual(Self.magic), let kind = r.u8() else { return nil }
        let record: SharedRecord
        switch kind {
        case 1:
            guard let status = r.u16(), (200...599).contains(status), let storedAtWall = r.u64(), let initialAge = r.u64(),
                let freshFor = r.u64(), let staleFor = r.u64(), let count = r.u16(), Int(count) <= maxHeaders
            else { return nil }
            var headers: [(name: String, value: String)] = []
            headers.reserveCapacity(Int(count))
            for _ in 0..<count {
                guard let nameLength = r.u16(), let name = r.take(Int(nameLength)), let valueLength = r.u32(),
                    let value = r.take(Int(valueLength))
                else { return nil }
                let nameText = String(decoding: name, as: UTF8.self)
                // What the host would refuse in a reply is refused here, as a miss.
                guard HTTPSyntax.isToken(nameText), !value.contains(where: { $0 == 0 || $0 == 10 || $0 == 13 }) else { return nil }
                headers.append((nameText.lowercased(), String(decoding: value, as: UTF8.self)))
            }
            guard let bodyLength = r.u32(), let body = r.take(Int(bodyLength)) else { return nil }
            record = .response(
                SharedResponse(
                    status: UInt32(status), headers: headers, body: Array(body), storedAtWall: storedAtWall, initialAge: initialAge,
                    freshFor: freshFor, staleFor: staleFor))
        case 2:
            guard let keepUntilWall = r.u64(), let count = r.u8(), count > 0, Int(count) <= maxVaryNames else { return nil }
            var names: [String] = []
            for _ in 0..<count {
                guard let length = r.u8(), let name = r.take(Int(length)) else { return nil }
                let text = String(decoding: name, as: UTF8.self)
                guard HTTPSyntax.isToken(text) else { return nil }
                names.append(text.lowercased())
            }
            record = .variants(names: names, keepUntilWall: keepUntilWall)
        default:
            return nil
        }
        return r.atEnd ? record : nil
    }

    private struct Writer {
        var out: [UInt8] = []
        mutating func u8(_ v: UInt8) { out.append(v) }
        mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        mutating func bytes<S: Sequence>(_ s: S) where S.Element == UInt8 { out.append(contentsOf: s) }
    }

    private struct Reader {
        let bytes: [UInt8]
        var offset = 0

        var atEnd: Bool { offset == bytes.count }

        mutating func take(_ n: Int) -> ArraySlice<UInt8>? {
            guard n >= 0, n <= bytes.count - offset else { return nil }
            defer { offset += n }
            return bytes[offset..<offset + n]
        }

        mutating func integer<T: FixedWidthInteger>(_: T.Type) -> T? {
            guard let raw = take(MemoryLayout<T>.size) else { return nil }
            var value: T = 0
            for (i, byte) in raw.enumerated() { value |= T(byte) << (8 * i) }
            return value
        }

        mutating func u8() -> UInt8? { integer(UInt8.self) }
        mutating func u16() -> UInt16? { integer(UInt16.self) }
        mutating func u32() -> UInt32? { integer(UInt32.self) }
        mutating func u64() -> UInt64? { integer(UInt64.self) }
    }
}

/// A stored response with wall-clock times.
struct SharedResponse: Equatable {
    var status: UInt32
    var headers: [(name: String, value: String)]
    var body: [UInt8]
    var storedAtWall: UInt64
    var initialAge: UInt64
    var freshFor: UInt64
    var staleFor: UInt64

    static func == (a: SharedResponse, b: SharedResponse) -> Bool {
        a.status == b.status && a.body == b.body && a.storedAtWall == b.storedAtWall && a.initialAge == b.initialAge
            && a.freshFor == b.freshFor && a.staleFor == b.staleFor && a.headers.count == b.headers.count
            && zip(a.headers, b.headers).allSatisfy { $0.name == $1.name && $0.value == $1.value }
    }

    /// This response as a memory entry on this instance's monotonic clock, or nil if it
    /// is past its stale window already. A `storedAtWall` in the future (clock skew
    /// between instances) counts as now.
    func entry(nowWall: UInt64, nowMonotonic: UInt64) -> CachedResponse? {
        let elapsed = nowWall > storedAtWall ? nowWall - storedAtWall : 0
        let (keepFor, overflow) = freshFor.addingReportingOverflow(staleFor)
        guard overflow || elapsed < keepFor else { return nil }
        let storedAt = nowMonotonic > elapsed ? nowMonotonic - elapsed : 0
        let freshUntil = storedAt.addingReportingOverflow(freshFor)
        let keepUntil = storedAt.addingReportingOverflow(overflow ? UInt64.max : keepFor)
        return CachedResponse(
            status: status, headers: headers, body: body, storedAt: storedAt, initialAge: initialAge,
            freshUntil: freshUntil.overflow ? UInt64.max : freshUntil.partialValue,
            keepUntil: keepUntil.overflow ? UInt64.max : keepUntil.partialValue)
    }
}
