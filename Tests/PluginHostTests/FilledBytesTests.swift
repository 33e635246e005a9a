import Testing

@testable import PluginHost

@Suite struct FilledBytesTests {
    static func append(_ bytes: inout FilledBytes, _ text: String) {
        let utf8 = Array(text.utf8)
        bytes.append(count: utf8.count) { out in utf8.withUnsafeBytes { out.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
    }

    static func text(_ bytes: FilledBytes) -> String { bytes.withUnsafeBytes { String(decoding: $0, as: UTF8.self) } }

    @Test func appendsGrowPastAnyLength() {
        var bytes = FilledBytes()
        #expect(bytes.isEmpty)
        var expected = ""
        for i in 0..<300 {
            let piece = "piece \(i);"
            Self.append(&bytes, piece)
            expected += piece
        }
        #expect(Self.text(bytes) == expected)
        #expect(bytes.count == expected.utf8.count)
        #expect(bytes.capacity >= bytes.count)
    }

    /// A copy keeps what it had when the original changes, and the reverse: the
    /// storage is an array's, copied on the first write to a shared one.
    @Test func copiesAreIndependent() {
        var original = FilledBytes()
        Self.append(&original, "a: 1\r\n")
        var copy = original
        Self.append(&copy, "b: 2\r\n")
        Self.append(&original, "c: 3\r\n")
        #expect(Self.text(original) == "a: 1\r\nc: 3\r\n")
        #expect(Self.text(copy) == "a: 1\r\nb: 2\r\n")
        copy.removeSubrange(0..<6)
        #expect(Self.text(copy) == "b: 2\r\n")
        #expect(Self.text(original) == "a: 1\r\nc: 3\r\n")
    }

    @Test func removalsMoveTheRestDown() {
        var bytes = FilledBytes()
        Self.append(&bytes, "0123456789")
        bytes.removeSubrange(2..<5)
        #expect(Self.text(bytes) == "0156789")
        bytes.removeSubrange(5..<7)
        #expect(Self.text(bytes) == "01567")
        bytes.removeSubrange(0..<0)
        #expect(Self.text(bytes) == "01567")
        bytes.removeSubrange(0..<5)
        #expect(bytes.isEmpty)
    }

    /// Memory given back to the loop's arena still holds the last run's bytes; the
    /// next run that adopts it sees none of them.
    @Test func adoptedSpareStartsEmpty() {
        let arena = HookArena()
        var first = FilledBytes()
        Self.append(&first, "x-secret: from the last request\r\n")
        arena.giveBack(first.take())
        #expect(first.isEmpty && first.capacity == 0)

        var next = FilledBytes()
        next.adopt(arena.takeSpare())
        #expect(next.isEmpty)
        #expect(next.capacity >= 256, "the spare's memory is used")
        Self.append(&next, "x-a: 1\r\n")
        #expect(Self.text(next) == "x-a: 1\r\n")
        // Storage held already is kept; a second spare is not taken over it.
        next.adopt([UInt8](repeating: 0, count: 1024))
        #expect(Self.text(next) == "x-a: 1\r\n")

        var lines = HeaderLines(bytes: .init(string: "\r\n"), start: 0, lineCount: 0)
        arena.giveBack(next.take())
        lines.adopt(arena.takeSpare())
        Array("x-b".utf8).withUnsafeBytes { name in Array("2".utf8).withUnsafeBytes { lines.add(name: name, value: $0) } }
        #expect(lines.addedLines.withUnsafeBytes { String(decoding: $0, as: UTF8.self) } == "x-b: 2\r\n")
    }
}
