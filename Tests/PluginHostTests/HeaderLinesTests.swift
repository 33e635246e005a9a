import NIOCore
import NIOHTTP1
import Testing

@testable import PluginHost

@Suite struct HeaderLinesTests {
    static let text = "HTTP/1.1 200 OK\r\nServer: up\r\nX-A: 1\r\ncontent-type: text/plain\r\nx-a:  2 \r\nContent-Length: 3\r\n\r\n"

    static func make(_ text: String = text, lines: Int = 5) -> HeaderLines {
        HeaderLines(bytes: ByteBuffer(string: text), start: 17, lineCount: lines)
    }

    static func fields(_ head: HeaderLines) -> [String] {
        var out: [String] = []
        head.forEachField { name, value in
            out.append(String(decoding: name, as: UTF8.self) + "=" + String(decoding: value, as: UTF8.self))
            return true
        }
        return out
    }

    static func edit(_ head: inout HeaderLines, remove name: String) {
        Array(name.utf8).withUnsafeBytes { head.remove(name: $0) }
    }

    static func edit(_ head: inout HeaderLines, add name: String, _ value: String) {
        Array(name.utf8).withUnsafeBytes { n in Array(value.utf8).withUnsafeBytes { v in head.add(name: n, value: v) } }
    }

    @Test func fieldsReadAsReceivedWithValuesTrimmed() {
        let head = Self.make()
        #expect(!head.isEdited)
        #expect(Self.fields(head) == ["Server=up", "X-A=1", "content-type=text/plain", "x-a=2", "Content-Length=3"])
    }

    static func values(_ head: HeaderLines, _ name: String) -> [String] {
        var out: [String] = []
        Array(name.utf8).withUnsafeBytes { wanted in
            head.forEachValue(named: wanted) { value in
                out.append(String(decoding: value, as: UTF8.self))
                return true
            }
        }
        return out
    }

    /// `forEachValue` finds lines by name alone and reads only the matching values:
    /// it must agree with the full walk, trimmed values, removals and additions included.
    @Test func valuesByNameAgreeWithTheFullWalk() {
        var head = Self.make("HTTP/1.1 200 OK\r\nX-A: 1\r\nx-b:\t two\t\r\nX-a:\r\nx-a:  3 \r\n\r\n", lines: 4)
        #expect(Self.values(head, "x-a") == ["1", "", "3"])
        #expect(Self.values(head, "X-B") == ["two"])
        #expect(Self.values(head, "x-c").isEmpty)
        Self.edit(&head, remove: "x-a")
        Self.edit(&head, add: "x-a", "added")
        Self.edit(&head, add: "x-c", " c ")
        #expect(Self.values(head, "x-a") == ["added"])
        #expect(Self.values(head, "x-c") == ["c"], "an added value reads trimmed, as a received one")
        #expect(Self.values(head, "x-b") == ["two"])
        #expect(Self.fields(head) == ["x-b=two", "x-a=added", "x-c=c"])
        // A name only among the added lines is removed from them without touching the rest.
        Self.edit(&head, remove: "x-c")
        #expect(Self.fields(head) == ["x-b=two", "x-a=added"])
        #expect(head.removedLines == 0b1101)
    }

    /// A line is found by name without its colon being searched for: the name's length
    /// in bytes must be followed by the colon, so a name that is a prefix of another,
    /// one longer than a line, or one whose colon would fall in the next line is no match.
    @Test func aLineIsNamedOnlyByItsWholeName() {
        let text = "HTTP/1.1 200 OK\r\nx-ab: 1\r\nX-A: 2\r\nab: x-a:3\r\nx-abc:\r\n\r\n"
        var head = Self.make(text, lines: 4)
        #expect(Self.values(head, "x-a") == ["2"])
        #expect(Self.values(head, "x-ab") == ["1"])
        #expect(Self.values(head, "x-abc") == [""])
        #expect(Self.values(head, "ab") == ["x-a:3"])
        #expect(Self.values(head, "x-abcdefghijklmnop").isEmpty)
        var ranges: [String] = []
        head.bytes.withUnsafeReadableBytes { raw in
            HeaderLines.forEachLineRange(raw, from: 17) { line in
                ranges.append(String(decoding: raw[line], as: UTF8.self))
                return true
            }
        }
        #expect(ranges == ["x-ab: 1\r\n", "X-A: 2\r\n", "ab: x-a:3\r\n", "x-abc:\r\n"])
        Self.edit(&head, remove: "X-AB")
        #expect(Self.fields(head) == ["X-A=2", "ab=x-a:3", "x-abc="])
    }

    /// The values of `name` and, when the walk saw every line, the lines it noted.
    static func valuesNoting(_ head: HeaderLines, _ name: String, stopAfterFirst: Bool = false) -> ([String], HeaderLines.NameLines?) {
        var out: [String] = []
        let noted = Array(name.utf8).withUnsafeBytes { wanted in
            head.forEachValueNoting(named: wanted) { value in
                out.append(String(decoding: value, as: UTF8.self))
                return !stopAfterFirst
            }
        }
        return (out, noted)
    }

    static func isAbout(_ head: HeaderLines, _ noted: HeaderLines.NameLines, _ name: String) -> Bool {
        Array(name.utf8).withUnsafeBytes { head.isAbout(noted, $0) }
    }

    /// A read that saw every line notes the received lines with the name (removed
    /// ones too), which a removal of that name uses; the note is about that name in
    /// any case, not another of its length; a read stopped early or of a name only
    /// added notes nothing.
    @Test func aReadNotesTheLinesARemovalOfTheSameNameUses() throws {
        let text = "HTTP/1.1 200 OK\r\nX-A: 1\r\nx-b: 2\r\nX-a: 3\r\nx-c: 4\r\n\r\n"
        var head = Self.make(text, lines: 4)
        let (values, noted) = Self.valuesNoting(head, "x-a")
        #expect(values == ["1", "3"])
        let lines = try #require(noted)
        #expect(lines.lines == 0b0101)
        #expect(Self.isAbout(head, lines, "X-A"))
        #expect(!Self.isAbout(head, lines, "x-b"), "another name of the same length")
        #expect(!Self.isAbout(head, lines, "x-ab"))
        // A note about x-a given to a removal of x-b is not used for it.
        var other = Self.make(text, lines: 4)
        Array("x-b".utf8).withUnsafeBytes { other.remove(name: $0, noted: lines) }
        #expect(Self.fields(other) == ["X-A=1", "X-a=3", "x-c=4"])
        Array("X-A".utf8).withUnsafeBytes { head.remove(name: $0, noted: lines) }
        #expect(Self.fields(head) == ["x-b=2", "x-c=4"])
        // Noted again after the removal: the removed lines are still named x-a.
        #expect(Self.valuesNoting(head, "x-a").1?.lines == 0b0101)
        #expect(Self.valuesNoting(head, "x-a").0.isEmpty)

        #expect(Self.valuesNoting(Self.make(text, lines: 4), "x-a", stopAfterFirst: true).1 == nil)
        var added = Self.make(text, lines: 4)
        Self.edit(&added, add: "x-d", "5")
        let (addedValues, addedNoted) = Self.valuesNoting(added, "x-d")
        #expect(addedValues == ["5"])
        #expect(addedNoted == nil, "a name only among the added lines")
        // A removal with a note still removes the added lines of the name.
        Self.edit(&added, add: "x-a", "6")
        let addedLines = try #require(Self.valuesNoting(added, "x-a").1)
        #expect(addedLines.lines == 0b0101)
        Array("x-a".utf8).withUnsafeBytes { added.remove(name: $0, noted: addedLines) }
        #expect(Self.fields(added) == ["x-b=2", "x-c=4", "x-d=5"])
    }

    @Test func removalIsByNameInAnyCaseAndAddedLinesFollowTheReceivedOnes() {
        var head = Self.make()
        Self.edit(&head, remove: "x-a")
        #expect(head.removedLines == 0b01010, "lines 1 and 3 (both spellings of x-a)")
        Self.edit(&head, add: "x-a", "3")
        Self.edit(&head, add: "X-B", "")
        Self.edit(&head, add: "x-c", "c")
        #expect(head.isEdited)
        #expect(Self.fields(head) == ["Server=up", "content-type=text/plain", "Content-Length=3", "x-a=3", "X-B=", "x-c=c"])
        // Removing a name also removes the lines filters added under it, keeping the others in order.
        Self.edit(&head, remove: "X-A")
        Self.edit(&head, remove: "x-b")
        #expect(Self.fields(head) == ["Server=up", "content-type=text/plain", "Content-Length=3", "x-c=c"])
        #expect(head.addedLines.withUnsafeBytes { String(decoding: $0, as: UTF8.self) } == "x-c: c\r\n")
        // An absent name changes nothing.
        Self.edit(&head, remove: "x-none")
        #expect(head.removedLines == 0b01010)
    }

    /// With the lines' name lengths given, names of other lengths are not searched
    /// for; a line added under a new length is found and removed like any other.
    @Test func nameLengthsSkipAbsentNamesAndFollowAddedLines() {
        let lengths = [6, 3, 12, 3, 14].reduce(UInt64(0)) { $0 | HeaderLines.lengthBit($1) }
        var head = HeaderLines(bytes: ByteBuffer(string: Self.text), start: 17, lineCount: 5, nameLengths: lengths)
        #expect(head.first("server") == "up")
        #expect(head.first("x-absent") == nil)
        Self.edit(&head, remove: "x-absent")
        #expect(head.removedLines == 0)
        Self.edit(&head, add: "ratelimit-limit", "10")
        #expect(head.first("RateLimit-Limit") == "10")
        Self.edit(&head, remove: "ratelimit-limit")
        #expect(head.first("ratelimit-limit") == nil)
        #expect(head.addedLines.isEmpty)
        Self.edit(&head, remove: "x-a")
        #expect(Self.fields(head) == ["Server=up", "content-type=text/plain", "Content-Length=3"])
    }

    @Test func theHeadAsNIOsTypeCarriesTheChanges() {
        var head = ResponseHeadBytes(bytes: ByteBuffer(string: Self.text), statusLineLength: 17, status: 200, version: .http1_1, lineCount: 5)
        Self.edit(&head.lines, remove: "server")
        Self.edit(&head.lines, add: "cache-control", "no-store")
        let nio = head.makeHead()
        #expect(nio.status == .ok)
        #expect(nio.version == .http1_1)
        #expect(nio.headers.map { "\($0.name)=\($0.value)" } == ["X-A=1", "content-type=text/plain", "x-a=2", "Content-Length=3", "cache-control=no-store"])
    }

    /// A request's lines start at offset 0 and run to the end of the buffer (no blank line).
    @Test func requestLinesReadToTheEndOfTheirBuffer() {
        let lines = HeaderLines(bytes: ByteBuffer(string: "Host: a.test\r\nx-b: 1\r\nx-request-id: r\r\n"), start: 0, lineCount: 3)
        var request = RequestHeadBytes(lines: lines, method: .POST, uri: "/p?q=1", version: .http1_1)
        #expect(request.lines.first("host") == "a.test")
        #expect(request.lines.first("X-B") == "1")
        #expect(request.lines.first("x-none") == nil)
        Self.edit(&request.lines, remove: "x-b")
        Self.edit(&request.lines, add: "x-c", "2")
        request.method = .PUT
        let nio = request.makeHead()
        #expect(nio.method == .PUT)
        #expect(nio.uri == "/p?q=1")
        #expect(nio.headers.map { "\($0.name)=\($0.value)" } == ["Host=a.test", "x-request-id=r", "x-c=2"])
    }

    @Test(arguments: [
        ("Content-Length", true), ("transfer-encoding", true), ("Connection", true), ("keep-alive", true), ("TE", true),
        ("trailer", true), ("Upgrade", true), ("proxy-connection", true), ("proxy-authenticate", true), ("X-Request-ID", true),
        ("content-type", false), ("x-ratelimit", false), ("tee", false), ("cache-control", false),
    ])
    func framingAndHopByHopNamesAreNotCarriedByTheDelta(name: String, affects: Bool) {
        #expect(Array(name.utf8).withUnsafeBytes { HeaderLines.affectsFraming($0) } == affects)
        #expect(Array(name.utf8).withUnsafeBytes { HeaderLines.affectsFraming($0, request: true) } == affects)
    }

    @Test func aRequestsHostIsNotCarriedByTheDeltaAResponsesIs() {
        #expect(Array("Host".utf8).withUnsafeBytes { HeaderLines.affectsFraming($0, request: true) })
        #expect(!Array("Host".utf8).withUnsafeBytes { HeaderLines.affectsFraming($0) })
    }
}

/// `isTokenByte` (the table lookup every header name a filter sets, and every response
/// header name the server scans, goes through) agrees with RFC 9110's tchar for all 256
/// byte values.
@Suite struct TokenByteTests {
    @Test func exactlyTheRFC9110TokenCharactersAreTokenBytes() {
        let tchar = Set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)
        for c in 0...255 {
            #expect(isTokenByte(UInt8(c)) == tchar.contains(UInt8(c)), "byte \(c)")
        }
    }

    /// The word-at-a-time comparison against a byte-by-byte reference: every pair of
    /// byte values at offsets in the first word, the overlapping tail and the last byte
    /// of 9- and 16-byte strings, and lengths 1 to 24 with a difference in the last byte.
    @Test func caseInsensitiveEqualityMatchesTheByteReference() {
        func reference(_ a: [UInt8], _ b: [UInt8]) -> Bool {
            func lower(_ c: UInt8) -> UInt8 { c >= 65 && c <= 90 ? c + 32 : c }
            return a.count == b.count && zip(a, b).allSatisfy { lower($0) == lower($1) }
        }
        var mismatches = 0
        for (length, positions) in [(9, [0, 3, 7, 8]), (16, [0, 5, 8, 15])] {
            for position in positions {
                for x in 0...255 {
                    for y in 0...255 {
                        var a = Array(repeating: UInt8(ascii: "k"), count: length)
                        var b = Array(repeating: UInt8(ascii: "K"), count: length)
                        a[position] = UInt8(x)
                        b[position] = UInt8(y)
                        let got = a.withUnsafeBytes { a in b.withUnsafeBytes { b in equalBytesIgnoringCase(a, b) } }
                        if got != reference(a, b) { mismatches += 1 }
                    }
                }
            }
        }
        #expect(mismatches == 0)
        for length in 1...24 {
            let a = Array("Content-Type-And-More-XYZ".utf8.prefix(length))
            let b = Array("content-type-and-more-xyz".utf8.prefix(length))
            var c = b
            c[length - 1] ^= 0x01
            #expect(a.withUnsafeBytes { a in b.withUnsafeBytes { equalBytesIgnoringCase(a, $0) } }, "length \(length)")
            #expect(!a.withUnsafeBytes { a in c.withUnsafeBytes { equalBytesIgnoringCase(a, $0) } }, "length \(length)")
        }
    }
}
