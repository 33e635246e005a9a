import Testing

@testable import AIGateway

@Suite struct JSONTests {
    @Test func parsingKeepsMemberOrderAndNumberText() throws {
        let json = try JSON.parse(#"{"b": 1.50, "a": [true, null, "x\u00e9\n"], "c": -0e3}"#)
        #expect(json.serialized == #"{"b":1.50,"a":[true,null,"xé\n"],"c":-0e3}"#)
        #expect(json["b"]?.double == 1.5)
        #expect(json["a"]?[2]?.string == "xé\n")
    }

    @Test func surrogatePairsDecodeToOneScalar() throws {
        #expect(try JSON.parse(#""\ud83d\ude00""#).string == "😀")
    }

    @Test(arguments: ["", "{", "[1,]", "{\"a\" 1}", "01", "1.", "\"\u{01}\"", "tru", "{} x", "\"\\x\""])
    func invalidTextIsRefused(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSON.parse(text) }
    }

    @Test func deepNestingIsRefusedWithoutCrashing() {
        let text = String(repeating: "[", count: 100_000)
        #expect(throws: JSONParseError.self) { try JSON.parse(text) }
    }

    @Test func stringsAreEscapedWhenWritten() throws {
        let value = JSON.string("a\"b\\c\n\u{01}")
        #expect(value.serialized == #""a\"b\\c\n\u0001""#)
        #expect(try JSON.parse(value.serialized) == value)
    }
}
