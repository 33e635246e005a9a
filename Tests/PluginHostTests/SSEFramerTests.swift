import NIOCore
import Testing

@testable import PluginHost

@Suite struct SSEFramerTests {
    static func feed(_ chunks: [String]) -> (events: [SSEFramer.Event], rest: String) {
        var framer = SSEFramer()
        var events: [SSEFramer.Event] = []
        for chunk in chunks { events += framer.feed(ByteBuffer(string: chunk)) }
        return (events, String(buffer: framer.drain()))
    }

    @Test func anEventSplitAcrossChunksIsFramedOnce() {
        let (events, rest) = Self.feed(["da", "ta: hel", "lo\n", "\nda", "ta: second\n\n"])
        #expect(events.count == 2)
        #expect(events.map { String(decoding: $0.data, as: UTF8.self) } == ["hello", "second"])
        #expect(String(buffer: events[0].raw) == "data: hello\n\n")
        #expect(rest == "")
    }

    @Test func aBlankLineSplitBetweenChunksEndsTheEvent() {
        let (first, _) = Self.feed(["data: a\n"])
        #expect(first.isEmpty)
        let (events, _) = Self.feed(["data: a\n", "\n"])
        #expect(events.count == 1)
    }

    @Test func crlfLineEndingsAreUnderstood() {
        let (events, rest) = Self.feed(["event: ping\r\nid: 7\r\ndata: x\r\n", "\r\ndata: y\r\n\r\n"])
        #expect(events.count == 2)
        #expect(events[0].event == "ping")
        #expect(events[0].id == "7")
        #expect(events[0].data == Array("x".utf8))
        #expect(String(buffer: events[0].raw) == "event: ping\r\nid: 7\r\ndata: x\r\n\r\n")
        #expect(events[1].data == Array("y".utf8))
        #expect(rest == "")
    }

    @Test func severalDataLinesAreJoinedWithNewlinesAndCommentsIgnored() {
        let (events, _) = Self.feed([": keep-alive comment\ndata: one\ndata:two\ndata\n\n"])
        #expect(events.count == 1)
        #expect(String(decoding: events[0].data, as: UTF8.self) == "one\ntwo\n")
        #expect(events[0].event == "")
    }

    @Test func severalEventsInOneChunkAreAllReturned() {
        let (events, rest) = Self.feed(["data: 1\n\ndata: 2\n\ndata: 3\n\ndata: partial"])
        #expect(events.map { String(decoding: $0.data, as: UTF8.self) } == ["1", "2", "3"])
        #expect(rest == "data: partial", "an incomplete event is left for drain()")
    }
}
