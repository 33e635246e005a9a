import NIOCore
import NIOHTTP1
import PluginHost
import Testing

@testable import gw

/// The upstream response parser on its own: framing, splits at every byte, and the
/// malformed responses it must refuse (RFC 9112). End-to-end behaviour (garbage
/// from a real upstream, resets mid-body) is covered by the Faults suite.
@Suite struct UpstreamResponseParserTests {
    /// What the parser emitted, flattened: "head 200", "body <text>", "end".
    final class Recorder {
        var events: [String] = []
        var body = ""

        func record(_ event: UpstreamResponseParser.Event, _ parser: UpstreamResponseParser) {
            switch event {
            case .head:
                events.append("head \(parser.takeHead().status)")
            case .body(let buffer):
                body += String(buffer: buffer)
            case .end:
                if !body.isEmpty { events.append("body \(body)") }
                body = ""
                events.append("end")
            }
        }
    }

    /// Feed `text` in pieces of `step` bytes (0: all at once).
    static func parse(
        _ text: String, step: Int = 0, head: Bool = false, eof: Bool = false
    ) throws -> (events: [String], keepAlive: Bool) {
        let parser = UpstreamResponseParser()
        parser.requestIsHEAD = head
        let recorder = Recorder()
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let end = step == 0 ? bytes.count : min(offset + step, bytes.count)
            try parser.feed(ByteBuffer(bytes: bytes[offset..<end])) { recorder.record($0, parser) }
            offset = end
        }
        if eof { try parser.inputClosed { recorder.record($0, parser) } }
        if !recorder.body.isEmpty { recorder.events.append("body \(recorder.body)") }
        return (recorder.events, parser.keepAlive)
    }

    static let chunked =
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n"
        + "5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n"

    @Test(arguments: [0, 1, 2, 3, 7, 13])
    func aContentLengthResponseParsesAtAnySplit(step: Int) throws {
        let text = "HTTP/1.1 200 OK\r\nServer: up\r\nContent-Length: 12\r\n\r\nhello, world"
        let result = try Self.parse(text, step: step)
        #expect(result.events == ["head 200", "body hello, world", "end"])
        #expect(result.keepAlive)
    }

    @Test(arguments: [0, 1, 2, 5, 11])
    func aChunkedResponseIsDechunkedAtAnySplit(step: Int) throws {
        let result = try Self.parse(Self.chunked, step: step)
        #expect(result.events == ["head 200", "body hello, world", "end"])
        #expect(result.keepAlive)
    }

    /// gw sends one request at a time on a connection: bytes after a complete response
    /// answer nothing it asked. Delivered, they would become the answer to the next
    /// request on the connection, possibly another client's (response desync).
    @Test func bytesAfterACompleteResponseAreDroppedAndTheConnectionIsNotReused() throws {
        let extra = "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled"
        for first in [
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na", Self.chunked, "HTTP/1.1 204 No Content\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        ] {
            let result = try Self.parse(first + extra)
            #expect(result.events.count(where: { $0.hasPrefix("head") }) == 1, "\(result.events)")
            #expect(result.events.last == "end")
            #expect(!result.events.contains("body smuggled"))
            #expect(!result.keepAlive, "\(first)")
            // The same response alone leaves the connection reusable.
            #expect(try Self.parse(first).keepAlive)
        }
        // Split so the extra bytes come in a later read: the connection is idle by then,
        // and the upstream handler closes it (`UpstreamHandler.channelRead`).
    }

    @Test func aSwitchingProtocolsAnswerIsRefused() throws {
        // gw forwards no Upgrade: a 101 is unasked for, and the bytes after it would
        // reach the client unframed.
        #expect(throws: HTTPParserError.invalidStatus) {
            try Self.parse("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\nraw")
        }
    }

    @Test func aPartialHeadIsTellable() throws {
        let parser = UpstreamResponseParser()
        #expect(!parser.hasPartialHead)
        try parser.feed(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Le")) { _ in }
        #expect(parser.hasPartialHead, "a close now is a truncated answer, not the keep-alive race")
        try parser.feed(ByteBuffer(string: "ngth: 2\r\n\r\nok")) { _ in }
        #expect(!parser.hasPartialHead)
    }

    @Test func headersAreParsedWithTheirValuesTrimmed() throws {
        let parser = UpstreamResponseParser()
        var seen: HTTPResponseHead?
        try parser.feed(ByteBuffer(string: "HTTP/1.0 404 Whatever\r\nX-A:  one two \t\r\nx-b:\r\nContent-Length: 0\r\n\r\n")) {
            if case .head = $0 { seen = parser.takeHead().makeHead() }
        }
        let head = try #require(seen)
        #expect(head.status == .notFound)
        #expect(head.version == .http1_0)
        #expect(head.headers["x-a"] == ["one two"])
        #expect(head.headers["X-B"] == [""])
        #expect(!parser.keepAlive, "HTTP/1.0 without keep-alive")
    }

    @Test func responsesWithoutABodyEndAtTheHead() throws {
        // HEAD: the Content-Length describes the GET body, none follows.
        #expect(try Self.parse("HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n", head: true).events == ["head 200", "end"])
        #expect(try Self.parse("HTTP/1.1 204 No Content\r\n\r\n").events == ["head 204", "end"])
        #expect(try Self.parse("HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n").events == ["head 304", "end"])
        #expect(try Self.parse("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").events == ["head 200", "end"])
    }

    @Test func informationalHeadsAreDroppedBeforeTheFinalOne() throws {
        let text = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"
        #expect(try Self.parse(text, step: 4).events == ["head 201", "body ok", "end"])
    }

    @Test func aBodyWithoutLengthEndsAtEOFAndTheConnectionIsNotReused() throws {
        let result = try Self.parse("HTTP/1.1 200 OK\r\n\r\nuntil the end", step: 3, eof: true)
        #expect(result.events == ["head 200", "body until the end", "end"])
        #expect(!result.keepAlive)
    }

    @Test func connectionCloseAndDoubleFramingMakeTheConnectionSingleUse() throws {
        #expect(try !Self.parse("HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 0\r\n\r\n").keepAlive)
        #expect(try Self.parse("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n").keepAlive)
        let both = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n"
        let result = try Self.parse(both)
        #expect(result.events == ["head 200", "body ab", "end"], "Transfer-Encoding wins over Content-Length")
        #expect(!result.keepAlive)
    }

    @Test func aTruncatedBodyIsAnErrorAtEOF() throws {
        #expect(throws: HTTPParserError.invalidEOFState) {
            try Self.parse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", eof: true)
        }
        #expect(throws: HTTPParserError.invalidEOFState) {
            try Self.parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", eof: true)
        }
        #expect(throws: HTTPParserError.invalidEOFState) { try Self.parse("HTTP/1.1 200 OK\r\nContent-Le", eof: true) }
        // EOF on an idle connection is not an error.
        #expect(try Self.parse("", eof: true).events.isEmpty)
    }

    @Test(arguments: [
        ("SSH-2.0-OpenSSH_9.2\r\n\r\n", HTTPParserError.invalidVersion),
        ("HTTP/2.0 200 OK\r\n\r\n", .invalidVersion),
        ("HTTP/1.1 20 OK\r\n\r\n", .invalidStatus),
        ("HTTP/1.1 099 Low\r\n\r\n", .invalidStatus),
        ("HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", .invalidHeaderToken),
        ("HTTP/1.1 200 OK\r\n: empty\r\n\r\n", .invalidHeaderToken),
        ("HTTP/1.1 200 OK\r\nX-A: a\r\n folded\r\n\r\n", .invalidHeaderToken),
        ("HTTP/1.1 200 OK\r\nX-A: a\nX-B: b\r\n\r\n", .invalidCharactersUsed),
        ("HTTP/1.1 200 OK\r\nX-A: a\u{0}b\r\n\r\n", .invalidCharactersUsed),
        ("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello", .invalidContentLength),
        ("HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello", .invalidContentLength),
        ("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", .invalidContentLength),
        ("HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\n", .invalidContentLength),
        ("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", .invalidContentLength),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", .invalidChunkSize),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\n", .invalidChunkSize),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n", .invalidChunkSize),
    ])
    func malformedResponsesAreRefused(text: String, error: HTTPParserError) throws {
        #expect(throws: error) { try Self.parse(text) }
        #expect(throws: error) { try Self.parse(text, step: 1) }
    }

    /// The value scanner reads eight bytes at a time: every forbidden byte (controls
    /// other than HTAB, a bare LF, NUL, DEL) is refused at every offset in a word and
    /// in the tail, in values and in the reason phrase; HTAB and obs-text pass there.
    @Test(arguments: [UInt8(0), 1, 10, 27, 31, 127])
    func aForbiddenByteIsRefusedAtEveryOffsetOfAValue(bad: UInt8) throws {
        for offset in 0..<19 {
            var value = Array("abcdefghijklmnopqrs".utf8)
            value[offset] = bad
            let head = Array("HTTP/1.1 200 OK\r\nX-V: ".utf8) + value + Array("\r\nContent-Length: 0\r\n\r\n".utf8)
            #expect(throws: HTTPParserError.invalidCharactersUsed, "byte \(bad) at \(offset)") {
                try UpstreamResponseParser().feed(ByteBuffer(bytes: head)) { _ in }
            }
            let status = Array("HTTP/1.1 200 ".utf8) + value + Array("\r\nContent-Length: 0\r\n\r\n".utf8)
            #expect(throws: HTTPParserError.invalidCharactersUsed, "reason phrase, byte \(bad) at \(offset)") {
                try UpstreamResponseParser().feed(ByteBuffer(bytes: status)) { _ in }
            }
        }
    }

    @Test func tabsAndObsTextPassAtEveryOffsetOfAValue() throws {
        for allowed: UInt8 in [9, 0x80, 0xA0, 0xFF] {
            for offset in 1..<18 {
                var value = Array("abcdefghijklmnopqrs".utf8)
                value[offset] = allowed
                let head = Array("HTTP/1.1 200 OK\r\nX-V: ".utf8) + value + Array("\r\nContent-Length: 0\r\n\r\n".utf8)
                for step in [0, 1, 5] {
                    let parser = UpstreamResponseParser()
                    var seen: ReceivedResponseHead?
                    var fed = 0
                    while fed < head.count {
                        let end = step == 0 ? head.count : min(fed + step, head.count)
                        try parser.feed(ByteBuffer(bytes: head[fed..<end])) { if case .head = $0 { seen = parser.takeHead() } }
                        fed = end
                    }
                    let received = try #require(seen, "byte \(allowed) at \(offset), step \(step)")
                    var found: [UInt8]?
                    received.bytes.withUnsafeReadableBytes { raw in
                        HeaderLines.forEachLine(raw, from: received.statusLineLength) { name, value, _ in
                            if name.count == 3 { found = Array(value) }
                            return true
                        }
                    }
                    #expect(found == value, "byte \(allowed) at \(offset), step \(step)")
                    #expect(received.contentLength == 0)
                }
            }
        }
    }

    /// Header names: every byte value, against RFC 9110's tchar (the parser looks them
    /// up in its own table).
    @Test func aHeaderNameByteIsAcceptedExactlyWhenItIsATokenCharacter() throws {
        let tchar = Set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)
        for b in 0...255 where b != 58 {
            let head = Array("HTTP/1.1 200 OK\r\nX".utf8) + [UInt8(b)] + Array("Y: v\r\nContent-Length: 0\r\n\r\n".utf8)
            let feed = { try UpstreamResponseParser().feed(ByteBuffer(bytes: head)) { _ in } }
            if tchar.contains(UInt8(b)) {
                #expect(throws: Never.self, "byte \(b)") { try feed() }
            } else {
                #expect(throws: HTTPParserError.self, "byte \(b)") { try feed() }
            }
        }
    }

    /// A head that arrives in pieces is read on from the first line the last piece
    /// left incomplete: fields, framing and the lines a proxy drops come out the same
    /// at every split as in one piece.
    @Test func aHeadArrivingInPiecesReadsTheSameAsAWholeOne() throws {
        var text = "HTTP/1.1 200 OK\r\nServer: up\r\nConnection: keep-alive, x-hop\r\nKeep-Alive: timeout=5\r\n"
        for i in 0..<20 { text += "X-Field-\(i): value \(i)\t with tab\r\n" }
        text += "X-Request-Id: upstream\r\nContent-Length: 2\r\n\r\nok"
        func parse(step: Int) throws -> (Int?, Int, [String], String) {
            let parser = UpstreamResponseParser()
            var seen: ReceivedResponseHead?
            var body = ""
            let bytes = Array(text.utf8)
            var offset = 0
            while offset < bytes.count {
                let end = step == 0 ? bytes.count : min(offset + step, bytes.count)
                try parser.feed(ByteBuffer(bytes: bytes[offset..<end])) { event in
                    switch event {
                    case .head: seen = parser.takeHead()
                    case .body(let b): body += String(buffer: b)
                    case .end: break
                    }
                }
                offset = end
            }
            let head = try #require(seen)
            var kept: [String] = []
            head.forEachKeptRange { range in kept.append(String(buffer: head.bytes.getSlice(at: head.bytes.readerIndex + range.lowerBound, length: range.count)!)) }
            return (head.contentLength, head.lineCount, kept, body)
        }
        let whole = try parse(step: 0)
        #expect(whole.0 == 2 && whole.1 == 25 && whole.3 == "ok")
        #expect(!whole.2.joined().lowercased().contains("keep-alive"))
        for step in [1, 2, 3, 7, 13, 64] {
            let split = try parse(step: step)
            #expect(split.0 == whole.0 && split.1 == whole.1 && split.2 == whole.2 && split.3 == whole.3, "step \(step)")
        }
    }

    /// A head is refused at its first bad byte, before the rest of it arrives.
    @Test func aBadByteIsRefusedBeforeTheHeadIsComplete() throws {
        let parser = UpstreamResponseParser()
        try parser.feed(ByteBuffer(string: "HTTP/1.1 200 OK\r\nServer: up\r\n")) { _ in }
        #expect(throws: HTTPParserError.invalidCharactersUsed) { try parser.feed(ByteBuffer(string: "X-A: a\u{1}")) { _ in } }
        #expect(throws: HTTPParserError.invalidStatus) { try UpstreamResponseParser().feed(ByteBuffer(string: "HTTP/1.1 2x")) { _ in } }
    }

    @Test func bytesThatCannotStartAResponseAreRefusedAtOnce() throws {
        let parser = UpstreamResponseParser()
        #expect(throws: HTTPParserError.invalidVersion) { try parser.feed(ByteBuffer(string: "garbage without any line end")) { _ in } }
    }

    @Test func anEndlessHeadIsRefusedAtTheLimit() throws {
        let parser = UpstreamResponseParser()
        try parser.feed(ByteBuffer(string: "HTTP/1.1 200 OK\r\n")) { _ in }
        let filler = ByteBuffer(string: "X-Filler: " + String(repeating: "a", count: 1000) + "\r\n")
        #expect(throws: HTTPParserError.headerOverflow) {
            for _ in 0..<100 { try parser.feed(filler) { _ in } }
        }
    }

    @Test func aLargeBodyIsPassedAsSlicesOfTheInput() throws {
        let parser = UpstreamResponseParser()
        var received = 0
        var ended = false
        try parser.feed(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 3014656\r\n\r\n")) { _ in }
        let chunk = ByteBuffer(repeating: 120, count: 64 * 1024)
        while !ended {
            try parser.feed(chunk) { event in
                switch event {
                case .body(let body): received += body.readableBytes
                case .end: ended = true
                case .head: Issue.record("a second head")
                }
            }
        }
        #expect(received == 46 * 64 * 1024)
    }
}
