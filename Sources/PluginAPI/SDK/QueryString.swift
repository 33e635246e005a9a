/// Pure helpers for a URL query string (the `query` attribute: no leading `?`),
/// `application/x-www-form-urlencoded` style: parameters split on `&`, name and value
/// split on the first `=`, `%XX` escapes and `+` for a space. Names are compared after
/// decoding, so `api%5Fkey` is `api_key`. A malformed escape is kept as it is.
public enum QueryString {
    /// The decoded value of the first parameter named `name` ("" for `name` or
    /// `name=`), or nil if there is none.
    public static func value(of name: String, in query: String) -> String? {
        for part in query.utf8.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let (rawName, rawValue) = split(part)
            guard decodedEquals(rawName, name) else { continue }
            return rawValue.map { decode($0) } ?? ""
        }
        return nil
    }

    /// `query` without any parameter whose decoded name is in `names`, or nil when no
    /// parameter matched (so the caller can skip writing the query back).
    public static func removing(_ names: [String], from query: String) -> String? {
        var kept: [Substring.UTF8View] = []
        var removed = false
        for part in query.utf8.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: false) {
            let name = split(part).name
            if !part.isEmpty && names.contains(where: { decodedEquals(name, $0) }) {
                removed = true
            } else {
                kept.append(part)
            }
        }
        guard removed else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(query.utf8.count)
        for part in kept where !part.isEmpty {
            if !bytes.isEmpty { bytes.append(UInt8(ascii: "&")) }
            bytes.append(contentsOf: part)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `name=value`, both percent-encoded: precompute it once, then `appending(_:to:)`.
    public static func pair(_ name: String, _ value: String) -> String {
        encode(name) + "=" + encode(value)
    }

    /// `query` with an already encoded `pair` appended.
    public static func appending(_ pair: String, to query: String) -> String {
        query.isEmpty ? pair : query + "&" + pair
    }

    /// Percent-encode everything but the unreserved characters (`A-Z a-z 0-9 - . _ ~`).
    public static func encode(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for c in text.utf8 {
            if isUnreserved(c) {
                out.append(c)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(c >> 4)])
                out.append(hex[Int(c & 0x0f)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decode `%XX` escapes and `+`.
    public static func decode(_ raw: Substring.UTF8View) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var iterator = Decoder(raw)
        while let c = iterator.next() { out.append(c) }
        return String(decoding: out, as: UTF8.self)
    }

    // MARK: - Internals

    static func split(_ part: Substring.UTF8View) -> (name: Substring.UTF8View, value: Substring.UTF8View?) {
        guard let eq = part.firstIndex(of: UInt8(ascii: "=")) else { return (part, nil) }
        return (part[..<eq], part[part.index(after: eq)...])
    }

    /// True if `raw` decodes to exactly `name`, without allocating.
    static func decodedEquals(_ raw: Substring.UTF8View, _ name: String) -> Bool {
        var decoder = Decoder(raw)
        for expected in name.utf8 {
            guard let c = decoder.next(), c == expected else { return false }
        }
        return decoder.next() == nil
    }

    static func isUnreserved(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return c == UInt8(ascii: "-") || c == UInt8(ascii: ".") || c == UInt8(ascii: "_") || c == UInt8(ascii: "~")
        }
    }

    /// Yields the decoded bytes of a raw query component.
    struct Decoder: IteratorProtocol {
        let raw: Substring.UTF8View
        var index: Substring.UTF8View.Index

        init(_ raw: Substring.UTF8View) {
            self.raw = raw
            self.index = raw.startIndex
        }

        mutating func next() -> UInt8? {
            guard index < raw.endIndex else { return nil }
            let c = raw[index]
            raw.formIndex(after: &index)
            if c == UInt8(ascii: "+") { return UInt8(ascii: " ") }
            guard c == UInt8(ascii: "%") else { return c }
            // %XX: two hex digits, else the '%' stands for itself.
            guard index < raw.endIndex, let high = hexValue(raw[index]) else { return c }
            let second = raw.index(after: index)
            guard second < raw.endIndex, let low = hexValue(raw[second]) else { return c }
            index = raw.index(after: second)
            return high << 4 | low
        }

        func hexValue(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
            default: return nil
            }
        }
    }
}
