import GatewayPluginSDK

/// The transform filter's configuration, validated once: lowercase header names,
/// query pairs already percent-encoded, status codes as the strings the host takes,
/// the path regex compiled, JSON pointers parsed.
struct TransformConfig: Sendable {
    /// Header operations of one direction, applied in this order: remove, rename, set, add.
    /// Names and values the filter hands the host on every request are made once
    /// (`HostString`), not converted from strings per call.
    struct HeaderOps: Sendable {
        var remove: [HostString] = []
        var rename: [(from: String, to: String)] = []
        var set: [(name: HostString, value: HostString)] = []
        var add: [(name: HostString, value: HostString)] = []
        var isEmpty: Bool { remove.isEmpty && rename.isEmpty && set.isEmpty && add.isEmpty }
    }

    /// Headers that frame the message or belong to one connection: changing them
    /// would corrupt the exchange, so the config refuses them.
    static let protectedHeaders: Set<String> = ["content-length", "transfer-encoding", "connection"]

    var requestHeaders = HeaderOps()
    var pathRewrite: PathRewrite?
    var requestBody: BodyEdits?
    var responseBody: BodyEdits?
    /// Encoded `name=value` pairs to append.
    var queryAdd: [String] = []
    var queryRemove: [String] = []
    var responseHeaders = HeaderOps()
    /// Upstream status -> the status (decimal text) sent downstream.
    var statusMap: [Int: String] = [:]

    var hasRequestWork: Bool {
        !requestHeaders.isEmpty || !queryAdd.isEmpty || !queryRemove.isEmpty || pathRewrite != nil || requestBody != nil
    }
    var hasResponseWork: Bool { !responseHeaders.isEmpty || !statusMap.isEmpty || responseBody != nil }
    var hasBodyEdits: Bool { requestBody != nil || responseBody != nil }

    init(_ json: JSONValue) throws(ConfigRejection) {
        var reader = ConfigReader()
        let root = reader.object(json, at: "", allowed: ["request", "response"]) ?? [:]
        if let request = root["request"], let fields = reader.object(request, at: "request", allowed: ["body", "headers", "path", "query"]) {
            if let headers = fields["headers"] { requestHeaders = Self.headerOps(headers, at: "request.headers", reader: &reader) }
            if let query = fields["query"] { (queryAdd, queryRemove) = Self.queryOps(query, at: "request.query", reader: &reader) }
            if let path = fields["path"] { pathRewrite = Self.pathRewrite(path, at: "request.path", reader: &reader) }
            if let body = fields["body"] {
                requestBody = BodyEdits(body, at: "request.body", reader: &reader)
                if !GatewayHost.offers(.requestBody) { reader.problem(at: "request.body", "this host does not offer request bodies to plugins") }
            }
        }
        if let response = root["response"], let fields = reader.object(response, at: "response", allowed: ["body", "headers", "status_map"]) {
            if let headers = fields["headers"] { responseHeaders = Self.headerOps(headers, at: "response.headers", reader: &reader) }
            if let map = fields["status_map"] { statusMap = Self.statusMap(map, at: "response.status_map", reader: &reader) }
            if let body = fields["body"] {
                responseBody = BodyEdits(body, at: "response.body", reader: &reader)
                if !GatewayHost.offers(.responseBody) { reader.problem(at: "response.body", "this host does not offer response bodies to plugins") }
            }
        }
        try reader.finish()
    }

    private static func pathRewrite(_ value: JSONValue, at path: String, reader: inout ConfigReader) -> PathRewrite? {
        guard let fields = reader.object(value, at: path, allowed: ["regex", "replace"]) else { return nil }
        var regex: String?
        var replace: String?
        for key in ["regex", "replace"] where fields[key] == nil {
            reader.problem(at: ConfigReader.path(path, key), "missing")
        }
        if let value = fields["regex"] { regex = reader.string(value, at: ConfigReader.path(path, "regex")) }
        if let value = fields["replace"] { replace = reader.string(value, at: ConfigReader.path(path, "replace")) }
        guard let regex, let replace else { return nil }
        do {
            return try PathRewrite(regex: regex, replace: replace)
        } catch {
            reader.problem(at: ConfigReader.path(path, error.key), error.message)
            return nil
        }
    }

    private static func headerOps(_ value: JSONValue, at path: String, reader: inout ConfigReader) -> HeaderOps {
        var ops = HeaderOps()
        guard let fields = reader.object(value, at: path, allowed: ["add", "remove", "rename", "set"]) else { return ops }
        if let list = fields["remove"], let names = reader.strings(list, at: ConfigReader.path(path, "remove")) {
            ops.remove = names.compactMap { headerName($0.value, at: $0.path, reader: &reader).map { HostString(copying: $0) } }
        }
        if let map = fields["rename"], let pairs = reader.stringMap(map, at: ConfigReader.path(path, "rename")) {
            for pair in pairs {
                guard let from = headerName(pair.key, at: pair.path, reader: &reader),
                    let to = headerName(pair.value, at: pair.path, reader: &reader)
                else { continue }
                if from == to {
                    reader.problem(at: pair.path, "renames a header to itself")
                } else {
                    ops.rename.append((from, to))
                }
            }
        }
        for (op, keyPath) in [("set", ConfigReader.path(path, "set")), ("add", ConfigReader.path(path, "add"))] {
            guard let map = fields[op], let pairs = reader.stringMap(map, at: keyPath) else { continue }
            for pair in pairs {
                guard let name = headerName(pair.key, at: pair.path, reader: &reader) else { continue }
                guard HTTPSyntax.isSafeFieldValue(pair.value) else {
                    reader.problem(at: pair.path, "the value must not contain CR, LF or NUL")
                    continue
                }
                let edit = (HostString(copying: name), HostString(copying: pair.value))
                if op == "set" { ops.set.append(edit) } else { ops.add.append(edit) }
            }
        }
        return ops
    }

    /// A valid, changeable header name, lowercased.
    private static func headerName(_ name: String, at path: String, reader: inout ConfigReader) -> String? {
        guard HTTPSyntax.isToken(name) else {
            reader.problem(at: path, "\"\(name)\" is not a valid header name")
            return nil
        }
        let lower = name.lowercased()
        guard !protectedHeaders.contains(lower) else {
            reader.problem(at: path, "\(lower) cannot be changed (it frames the message or the connection)")
            return nil
        }
        return lower
    }

    private static func queryOps(_ value: JSONValue, at path: String, reader: inout ConfigReader) -> (add: [String], remove: [String]) {
        guard let fields = reader.object(value, at: path, allowed: ["add", "remove"]) else { return ([], []) }
        var add: [String] = []
        var remove: [String] = []
        if let map = fields["add"], let pairs = reader.stringMap(map, at: ConfigReader.path(path, "add")) {
            add = pairs.map { QueryString.pair($0.key, $0.value) }
        }
        if let list = fields["remove"], let names = reader.strings(list, at: ConfigReader.path(path, "remove")) {
            remove = names.map(\.value)
        }
        return (add, remove)
    }

    private static func statusMap(_ value: JSONValue, at path: String, reader: inout ConfigReader) -> [Int: String] {
        guard case .object(let members) = value else {
            reader.problem(at: path, "expected an object of status: status, got \(value.kindName)")
            return [:]
        }
        var map: [Int: String] = [:]
        for key in members.keys.sorted() {
            let memberPath = ConfigReader.path(path, key)
            guard let from = Int(key), (200...599).contains(from) else {
                reader.problem(at: memberPath, "\"\(key)\" is not a status code between 200 and 599")
                continue
            }
            if let to = reader.integer(members[key]!, at: memberPath, in: 200...599) { map[from] = String(to) }
        }
        return map
    }
}
