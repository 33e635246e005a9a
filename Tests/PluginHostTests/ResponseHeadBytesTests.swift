import NIOCore
import NIOHTTP1
import Testing

@testable import PluginHost

@Suite struct ResponseHeadBytesTests {
    static let text = "HTTP/1.1 200 OK\r\nServer: up\r\nX-A: 1\r\ncontent-type: text/plain\r\nx-a:  2 \r\nContent-Length: 3\r\n\r\n"

    static func make(_ text: String = text, lines: Int = 5) -> ResponseHeadBytes {
        ResponseHeadBytes(bytes: ByteBuffer(string: text), statusLineLength: 17, status: 200, version: .http1_1, lineCount: lines)!
    }

    static func fields(_ head: ResponseHeadBytes) -> [String] {
        var out: [String] = []
        head.forEachField { name, value in
            out.append(String(decoding: name, as: UTF8.self) + "=" + String(decoding: value, as: UTF8.self))
            return true
        }
        return out
    }

    static func edit(_ head: inout ResponseHeadBytes, remove name: String) {
        Array(name.utf8).withUnsafeBytes { head.remove(name: $0) }
    }

    static func edit(_ head: inout ResponseHeadBytes, add name: String, _ value: String) {
        Array(name.utf8).withUnsafeBytes { n in Array(value.utf8).withUnsafeBytes { v in head.add(name: n, value: v) } }
    }

    @Test func fieldsReadAsReceivedWithValuesTrimmed() {
        let head = Self.make()
        #expect(!head.isEdited)
        #expect(Self.fields(head) == ["Server=up", "X-A=1", "content-type=text/plain", "x-a=2", "Content-Length=3"])
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
        #expect(String(decoding: head.addedLines, as: UTF8.self) == "x-c: c\r\n")
        // An absent name changes nothing.
        Self.edit(&head, remove: "x-none")
        #expect(head.removedLines == 0b01010)
    }

    @Test func theHeadAsNIOsTypeCarriesTheChanges() {
        var head = Self.make()
        Self.edit(&head, remove: "server")
        Self.edit(&head, add: "cache-control", "no-store")
        let nio = head.makeHead()
        #expect(nio.status == .ok)
        #expect(nio.version == .http1_1)
        #expect(nio.headers.map { "\($0.name)=\($0.value)" } == ["X-A=1", "content-type=text/plain", "x-a=2", "Content-Length=3", "cache-control=no-store"])
    }

    @Test func aHeadWithMoreLinesThanTheMaskAddressesIsRefused() {
        #expect(ResponseHeadBytes(bytes: ByteBuffer(), statusLineLength: 0, status: 200, version: .http1_1, lineCount: 65) == nil)
        #expect(ResponseHeadBytes(bytes: ByteBuffer(), statusLineLength: 0, status: 200, version: .http1_1, lineCount: 64) != nil)
    }

    @Test(arguments: [
        ("Content-Length", true), ("transfer-encoding", true), ("Connection", true), ("keep-alive", true), ("TE", true),
        ("trailer", true), ("Upgrade", true), ("proxy-connection", true), ("proxy-authenticate", true), ("X-Request-ID", true),
        ("content-type", false), ("x-ratelimit", false), ("tee", false), ("cache-control", false),
    ])
    func framingAndHopByHopNamesAreNotCarriedByTheDelta(name: String, affects: Bool) {
        #expect(Array(name.utf8).withUnsafeBytes { ResponseHeadBytes.affectsFraming($0) } == affects)
    }
}
