import GatewayPluginSDK
import Testing

/// `JSONValue.serialized()`, and `JSONNode`/`JSONPointer`: the lossless, strict JSON
/// model the transform filter edits bodies with.
@Suite struct JSONSerializationTests {
    @Test func valuesSerializeCompactlyWithSortedKeys() throws {
        let value = try JSONValue.parse(#"{"b": [1, 2.5, -0.125, 1e21, true, null], "a": "x\"y\\z\n\u0001é", "c": {}}"#)
        #expect(value.serialized() == #"{"a":"x\"y\\z\n\u0001é","b":[1,2.5,-0.125,1e+21,true,null],"c":{}}"#)
        // What it writes parses back to the same value.
        #expect(try JSONValue.parse(value.serialized()) == value)
    }

    @Test func numbersAreWrittenAsJSONNumbers() {
        #expect(JSONValue.numberText(5) == "5")
        #expect(JSONValue.numberText(-0.0) == "0")
        #expect(JSONValue.numberText(9_007_199_254_740_992) == "9007199254740992")
        #expect(JSONValue.numberText(0.1) == "0.1")
        #expect(JSONValue.numberText(.infinity) == "null")
        #expect(JSONValue.numberText(.nan) == "null")
        for n in [1e300, 1e-7, 123.456, -2.5e-300] {
            #expect(Double(JSONValue.numberText(n)) == n)
            #expect((try? JSONNode.parse(JSONValue.numberText(n))) != nil, "\(JSONValue.numberText(n)) is JSON")
        }
    }

    @Test func controlCharactersAreEscaped() {
        #expect(JSONValue.string("\u{8}\u{c}\t\r\n\u{1f}").serialized() == #""\b\f\t\r\n\u001f""#)
    }
}

@Suite struct JSONNodeTests {
    @Test func orderAndNumberTextSurviveARoundTrip() throws {
        let text = #"{"zeta":1,"alpha":12345678901234567890,"mid":[1.10,-0,2E+3,{"y":null,"x":false}],"s":"\/é\u00e9"}"#
        let node = try JSONNode.parse(text)
        #expect(node.text == #"{"zeta":1,"alpha":12345678901234567890,"mid":[1.10,-0,2E+3,{"y":null,"x":false}],"s":"/éé"}"#)
        #expect(node["alpha"] == .number("12345678901234567890"))
        #expect(try JSONNode.parse(node.serialized()) == node)
        // Whitespace around and inside is accepted and dropped.
        #expect(try JSONNode.parse(" \n{ \"a\" : [ 1 , 2 ] }\t").text == #"{"a":[1,2]}"#)
    }

    static let invalid: [(String, String)] = [
        ("", "unexpected end"),
        ("{", "expected a string key"),
        (#"{"a":1,}"#, "expected a string key"),
        ("[1,]", "invalid value"),
        (#"{"a":1,"a":2}"#, "duplicate key"),
        ("01", "leading zero"),
        ("1.", "expected a digit after '.'"),
        ("1e", "expected a digit in the exponent"),
        ("+1", "invalid value"),
        ("NaN", "invalid value"),
        ("tru", "invalid literal"),
        ("\"a\u{1}\"", "control character"),
        (#""\x""#, "invalid escape"),
        (#""\ud800""#, "lone surrogate"),
        ("{} {}", "trailing characters"),
        ("'a'", "invalid value"),
    ]

    @Test(arguments: invalid)
    func invalidJSONIsRefused(_ text: String, _ message: String) {
        do {
            _ = try JSONNode.parse(text)
            Issue.record("parsed: \(text)")
        } catch {
            #expect(error.message.contains(message), "\(text): \(error)")
        }
    }

    @Test func invalidUTF8AndDeepNestingAreRefused() {
        #expect(throws: JSONValue.ParseError.self) { try JSONNode.parse([0x22, 0xff, 0xfe, 0x22]) }
        #expect(throws: JSONValue.ParseError.self) { try JSONNode.parse([0x22, 0x5c, 0x6e, 0xc3, 0x22]) }
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        #expect(throws: JSONValue.ParseError.self) { try JSONNode.parse(deep) }
        #expect((try? JSONNode.parse(deep, maxDepth: 100)) != nil)
    }

    @Test func aJSONValueBecomesANodeWithSortedMembers() throws {
        let value = try JSONValue.parse(#"{"b": 2, "a": [1.5, "x", null, {"d": true, "c": false}]}"#)
        #expect(JSONNode(value).text == #"{"a":[1.5,"x",null,{"c":false,"d":true}],"b":2}"#)
    }

    @Test func pointersParseWithEscapes() throws {
        #expect(try JSONPointer("").tokens == [])
        #expect(try JSONPointer("/").tokens == [""])
        #expect(try JSONPointer("/a~1b/c~0d/0").tokens == ["a/b", "c~d", "0"])
        #expect(throws: JSONPointer.SyntaxError.self) { try JSONPointer("a") }
        #expect(throws: JSONPointer.SyntaxError.self) { try JSONPointer("/a~2") }
        #expect(throws: JSONPointer.SyntaxError.self) { try JSONPointer("/a~") }
        #expect(try JSONPointer("/a/b").isWithin(JSONPointer("/a")))
        #expect(try JSONPointer("/a").isWithin(JSONPointer("/a")))
        #expect(try !JSONPointer("/ab").isWithin(JSONPointer("/a")))
    }

    @Test func valuesAreFoundByPointer() throws {
        let node = try JSONNode.parse(#"{"a":{"b":[10,20,{"c":"x"}]},"k/l":1,"":2}"#)
        #expect(node.value(at: try JSONPointer("")) == node)
        #expect(node.value(at: try JSONPointer("/a/b/1")) == .number("20"))
        #expect(node.value(at: try JSONPointer("/a/b/2/c")) == .string("x"))
        #expect(node.value(at: try JSONPointer("/k~1l")) == .number("1"))
        #expect(node.value(at: try JSONPointer("/")) == .number("2"))
        #expect(node.value(at: try JSONPointer("/a/b/3")) == nil)
        #expect(node.value(at: try JSONPointer("/a/b/01")) == nil)
        #expect(node.value(at: try JSONPointer("/a/b/-")) == nil)
        #expect(node.value(at: try JSONPointer("/a/b/1/x")) == nil)
    }

    @Test func setReplacesAddsAppendsAndCreatesParents() throws {
        var node = try JSONNode.parse(#"{"model":"a","messages":[{"role":"user"}],"n":1}"#)
        #expect(node.set(.string("b"), at: try JSONPointer("/model")))
        #expect(node.set(.bool(true), at: try JSONPointer("/stream")))
        #expect(node.set(.string("gw"), at: try JSONPointer("/metadata/source/name")))
        #expect(node.set(.string("sys"), at: try JSONPointer("/messages/0/role")))
        #expect(node.set(.number("2"), at: try JSONPointer("/messages/-")))
        #expect(node.set(.number("3"), at: try JSONPointer("/messages/2")))
        #expect(node.text == #"{"model":"b","messages":[{"role":"sys"},2,3],"n":1,"stream":true,"metadata":{"source":{"name":"gw"}}}"#)

        let before = node
        #expect(!node.set(.null, at: try JSONPointer("/messages/9")), "out of range")
        #expect(!node.set(.null, at: try JSONPointer("/messages/-/x")), "past the end, deeper")
        #expect(!node.set(.null, at: try JSONPointer("/n/x")), "a number is not a container")
        #expect(!node.set(.null, at: try JSONPointer("/new/x"), createParents: false))
        #expect(node == before)

        #expect(node.set(.array([]), at: try JSONPointer("")))
        #expect(node.text == "[]")
    }

    @Test func removeTakesMembersAndElementsOut() throws {
        var node = try JSONNode.parse(#"{"a":{"b":[1,2,3],"c":true},"d":null}"#)
        #expect(node.remove(at: try JSONPointer("/a/b/1")) == .number("2"))
        #expect(node.remove(at: try JSONPointer("/d")) == .null)
        #expect(node.remove(at: try JSONPointer("/a/missing")) == nil)
        #expect(node.remove(at: try JSONPointer("/a/b/5")) == nil)
        #expect(node.remove(at: try JSONPointer("")) == nil)
        #expect(node.text == #"{"a":{"b":[1,3],"c":true}}"#)
    }
}
