/// Minimal JSON text building, so the data plane needs no Foundation encoder.
enum JSON {
    static func quote(_ string: String) -> String {
        var out = "\""
        out.reserveCapacity(string.utf8.count + 2)
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// `{"error":{"type":...,"message":...}}`
    static func error(type: String, message: String) -> String {
        "{\"error\":{\"type\":\(quote(type)),\"message\":\(quote(message))}}"
    }
}
