import Testing

@testable import gw

/// `RequestDecoder`'s scratch buffer: what is appended is what it holds, across
/// growth (its first allocation is 256 bytes) and after being emptied.
@Suite struct HeadScratchTests {
    @Test func appendsSurviveGrowthAndEmptyingKeepsNothing() {
        var scratch = HeadScratch()
        #expect(scratch.count == 0)
        var expected: [UInt8] = []
        // Pieces of every length from 0 to 300: many growths, including appends
        // larger than the whole capacity before them.
        for length in 0...300 {
            let piece = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ length) }
            piece.withUnsafeBytes { scratch.append($0.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, length) }
            expected += piece
        }
        #expect(scratch.count == expected.count)
        #expect(Array(scratch.bytes) == expected)

        scratch.removeAll()
        #expect(scratch.count == 0)
        #expect(scratch.bytes.isEmpty)
        let again: [UInt8] = Array("GET /after HTTP/1.1".utf8)
        again.withUnsafeBytes { scratch.append($0.baseAddress!, again.count) }
        #expect(Array(scratch.bytes) == again)
    }
}
