import GatewayPluginSDK
import Testing

/// The SDK's pure helpers (no host needed): config reading, query strings, JSON
/// quoting and error bodies, HTTP syntax.
@Suite struct ConfigReaderTests {
    @Test func problemsAreCollectedWithTheirKeyPaths() throws {
        let json = try JSONValue.parse(#"{"keys": [{"key": ""}, {"key": 3, "extra": true}], "header": "", "colour": "red"}"#)
        var reader = ConfigReader()
        let root = reader.object(json, at: "", allowed: ["keys", "header"]) ?? [:]
        _ = reader.string(root["header"]!, at: "header")
        let items = reader.array(root["keys"]!, at: "keys") ?? []
        #expect(items.count == 2)
        for (i, item) in items.enumerated() {
            let path = ConfigReader.path("keys", i)
            let fields = reader.object(item, at: path, allowed: ["key"])
            _ = fields?["key"].flatMap { reader.string($0, at: ConfigReader.path(path, "key")) }
        }
        #expect(
            reader.problems == [
                "colour: unknown key (expected one of: header, keys)",
                "header: must not be empty",
                "keys[0].key: must not be empty",
                "keys[1].extra: unknown key (expected one of: key)",
                "keys[1].key: expected a string, got a number",
            ])
        #expect(throws: ConfigRejection.self) { try reader.finish() }
    }

    @Test func aConfigThatIsNotAnObjectIsNamedAsSuch() {
        var reader = ConfigReader()
        #expect(reader.object(.array([]), at: "", allowed: []) == nil)
        #expect(reader.problems == ["config must be an object"])
    }

    @Test func integersAreWholeAndInRange() {
        var reader = ConfigReader()
        #expect(reader.integer(.number(5), at: "n", in: 1...10) == 5)
        #expect(reader.integer(.number(2.5), at: "a", in: 1...10) == nil)
        #expect(reader.integer(.number(0), at: "b", in: 1...10) == nil)
        #expect(reader.integer(.string("3"), at: "c", in: 1...10) == nil)
        #expect(
            reader.problems == [
                "a: expected an integer, got a number", "b: must be between 1 and 10, got 0", "c: expected an integer, got a string",
            ])
    }

    @Test func stringMapsAreSortedAndNameTheirBadMembers() {
        var reader = ConfigReader()
        let pairs = reader.stringMap(.object(["b": .string("2"), "a": .string("1"), "c": .null]), at: "add")
        #expect(pairs?.map(\.key) == ["a", "b"])
        #expect(pairs?.map(\.path) == ["add.a", "add.b"])
        #expect(reader.problems == ["add.c: expected a string, got null"])
    }

    @Test func aRejectionCarriesEveryMessage() {
        let rejection = ConfigRejection(messages: ["a: x", "b: y"])
        #expect(rejection.message == "a: x; b: y")
        #expect(ConfigRejection("one").messages == ["one"])
    }
}

@Suite struct QueryStringTests {
    @Test func aValueIsFoundByItsDecodedName() {
        #expect(QueryString.value(of: "api_key", in: "a=1&api_key=sk-1&b=2") == "sk-1")
        #expect(QueryString.value(of: "api_key", in: "api%5Fkey=x%2By+z") == "x+y z")
        #expect(QueryString.value(of: "flag", in: "flag&x=1") == "")
        #expect(QueryString.value(of: "api_key", in: "api_keys=1&key=2") == nil)
        #expect(QueryString.value(of: "k", in: "k=100%&k=2") == "100%", "a malformed escape stays as it is")
    }

    @Test func removingDropsEveryMatchAndKeepsTheRestInOrder() {
        #expect(QueryString.removing(["api_key"], from: "a=1&api_key=s&b=2&api%5Fkey=t") == "a=1&b=2")
        #expect(QueryString.removing(["x", "y"], from: "x=1&y=2") == "")
        #expect(QueryString.removing(["x"], from: "a=1&&b=2") == nil, "nothing removed: nil")
        #expect(QueryString.removing(["x"], from: "x=1&&b=2") == "b=2")
    }

    @Test func pairsArePercentEncodedAndAppended() {
        #expect(QueryString.pair("a b", "c&d=é") == "a%20b=c%26d%3D%C3%A9")
        #expect(QueryString.appending("x=1", to: "") == "x=1")
        #expect(QueryString.appending("x=1", to: "a=2") == "a=2&x=1")
        #expect(QueryString.value(of: "a b", in: QueryString.pair("a b", "c&d=é")) == "c&d=é")
    }
}

@Suite struct ReplyAndSyntaxTests {
    @Test func quotingEscapesWhatJSONRequires() throws {
        let text = "say \"hi\"\\\n\t\u{1}é"
        let quoted = JSONValue.quote(text)
        #expect(quoted == #""say \"hi\"\\\n\t\u0001é""#)
        #expect(try JSONValue.parse(quoted) == .string(text))
    }

    @Test func errorBodiesHaveGatewaysShape() throws {
        let body = ErrorReply.body(type: "forbidden", message: "consumer \"bob\" is not allowed")
        let parsed = try JSONValue.parse(body)
        #expect(parsed["error"]?["type"] == .string("forbidden"))
        #expect(parsed["error"]?["message"] == .string("consumer \"bob\" is not allowed"))
    }

    @Test func headerNamesMustBeTokensAndValuesFreeOfLineBreaks() {
        #expect(HTTPSyntax.isToken("x-api-key"))
        #expect(!HTTPSyntax.isToken(""))
        #expect(!HTTPSyntax.isToken("x api"))
        #expect(!HTTPSyntax.isToken("x:y"))
        #expect(HTTPSyntax.isSafeFieldValue("a, b; c=\"d\""))
        #expect(!HTTPSyntax.isSafeFieldValue("a\r\nx-injected: 1"))
        #expect(!HTTPSyntax.isSafeFieldValue("a\u{0}"))
    }
}

/// `DecimalText`: integers as ASCII digits for `Stream.setHeader(_:_:_:)` with an Int.
@Suite struct DecimalTextTests {
    @Test(arguments: [0, 7, 9, 10, 99, 100, 101, 999, 1_000, 999_999, 1_000_000, -1, -9, -10, -42, -100, Int.max, Int.min])
    func anIntegerIsWrittenAsDescriptionWouldWriteIt(_ value: Int) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32) { buffer in
            let digits = DecimalText.write(value, into: buffer)
            #expect(String(decoding: UnsafeBufferPointer(digits), as: UTF8.self) == String(value))
            #expect(digits.baseAddress! + digits.count == buffer.baseAddress! + 32, "written at the end")
        }
    }
}

@Suite struct HostStringTests {
    @Test func literalsAndCopiesHoldTheirBytes() {
        let literal = HostString("x-api-key")
        #expect(literal.count == 9)
        #expect(literal.description == "x-api-key")

        var source = "consumer-é-" + String(repeating: "z", count: 40)
        let copy = HostString(copying: source)
        source = "changed"
        #expect(copy.description == "consumer-é-" + String(repeating: "z", count: 40), "a copy does not follow the string")
        #expect(copy.count == copy.description.utf8.count)
        copy.withBytes { #expect(Array($0) == Array(copy.description.utf8)) }

        let empty = HostString(copying: "")
        #expect(empty.count == 0)
        #expect(empty.description == "")
        empty.withBytes { #expect($0.isEmpty) }
    }

    @Test func equalityIsByBytes() {
        #expect(HostString("auth") == HostString(copying: "auth"))
        #expect(HostString("auth") != HostString(copying: "Auth"))
        #expect(HostString(copying: "") == HostString(""))
    }

    /// Copies outlive the value they were made from, in other values and threads.
    @Test func copiesStayValidWhereverTheyGo() async {
        var names: [HostString] = []
        for i in 0..<100 { names.append(HostString(copying: "x-header-\(i)")) }
        let shared = names
        names.removeAll()
        let joined = await Task.detached { shared.map(\.description).joined(separator: ",") }.value
        #expect(joined == (0..<100).map { "x-header-\($0)" }.joined(separator: ","))
    }
}
