import NIOHTTP1

/// Hop-by-hop header removal (RFC 9110 §7.6.1). Transfer-Encoding stays: NIO's
/// encoder re-frames the message from it and Content-Length.
enum HopByHop {
    static let names: Set<String> = ["connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade", "proxy-authenticate"]

    static func strip(_ headers: inout HTTPHeaders) {
        var listed: [String] = []
        var found = false
        for (name, value) in headers {
            let lower = name.lowercased()
            if names.contains(lower) {
                found = true
                if lower == "connection" {
                    for token in value.split(separator: ",") {
                        let t = token.trimmingSpaces.lowercased()
                        if t != "close" && t != "keep-alive" && t != "transfer-encoding" { listed.append(t) }
                    }
                }
            }
        }
        guard found else { return }
        for name in names { headers.remove(name: name) }
        for name in listed { headers.remove(name: name) }
    }
}
