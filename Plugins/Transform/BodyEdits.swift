import GatewayPluginSDK

/// `request.body` / `response.body`: edits of a JSON body by JSON pointer (RFC 6901),
/// applied in the order remove, rename, set (each map in pointer order).
struct BodyEdits: Sendable {
    var remove: [JSONPointer] = []
    /// Move the value at `from` to `to` (replacing what is there), as JSON Patch's "move".
    var rename: [(from: JSONPointer, to: JSONPointer)] = []
    /// Put the value at the pointer, creating missing parent objects.
    var set: [(pointer: JSONPointer, value: JSONNode)] = []
    /// A body that is not JSON: passed on unchanged (false), or refused (true).
    var rejectInvalid = false

    /// Nesting a body may have; deeper is "not JSON".
    static let maxDepth = 128

    static let allowedKeys = ["on_invalid_json", "remove", "rename", "set"]

    init() {}

    init(_ value: JSONValue, at path: String, reader: inout ConfigReader) {
        guard let fields = reader.object(value, at: path, allowed: Self.allowedKeys) else { return }
        func at(_ key: String) -> String { ConfigReader.path(path, key) }
        if let list = fields["remove"], let items = reader.strings(list, at: at("remove")) {
            remove = items.compactMap { Self.pointer($0.value, at: $0.path, reader: &reader) }
        }
        if let map = fields["rename"], let pairs = reader.stringMap(map, at: at("rename")) {
            for pair in pairs {
                guard let from = Self.pointer(pair.key, at: pair.path, reader: &reader),
                    let to = Self.pointer(pair.value, at: pair.path, reader: &reader)
                else { continue }
                if from.isWithin(to) || to.isWithin(from) {
                    reader.problem(at: pair.path, "\(from) and \(to) overlap (one is inside the other)")
                } else {
                    rename.append((from, to))
                }
            }
        }
        if let map = fields["set"] {
            if case .object(let members) = map {
                for key in members.keys.sorted() {
                    guard let pointer = Self.pointer(key, at: ConfigReader.path(at("set"), key), reader: &reader) else { continue }
                    set.append((pointer, JSONNode(members[key]!)))
                }
            } else {
                reader.problem(at: at("set"), "expected an object of JSON pointer: value, got \(map.kindName)")
            }
        }
        if let value = fields["on_invalid_json"], let mode = reader.string(value, at: at("on_invalid_json")) {
            switch mode {
            case "pass": rejectInvalid = false
            case "reject": rejectInvalid = true
            default: reader.problem(at: at("on_invalid_json"), "expected pass or reject, got \"\(mode)\"")
            }
        }
        if fields.isEmpty {
            reader.problem(at: path, "nothing to do (expected set, remove, rename or on_invalid_json)")
        }
    }

    /// A JSON pointer naming a part of the body (not the whole of it).
    private static func pointer(_ text: String, at path: String, reader: inout ConfigReader) -> JSONPointer? {
        do {
            let pointer = try JSONPointer(text)
            guard !pointer.tokens.isEmpty else {
                reader.problem(at: path, "the empty pointer is the whole body (name a member, e.g. \"/model\")")
                return nil
            }
            return pointer
        } catch {
            reader.problem(at: path, "\"\(text)\" is not a JSON pointer: \(error.message)")
            return nil
        }
    }

    /// Apply every edit to `body`; true if anything changed.
    func apply(to body: inout JSONNode) -> Bool {
        var changed = false
        for pointer in remove where body.remove(at: pointer) != nil { changed = true }
        for (from, to) in rename {
            guard let value = body.value(at: from), body.set(value, at: to) else { continue }
            body.remove(at: from)
            changed = true
        }
        for (pointer, value) in set where body.set(value, at: pointer) { changed = true }
        return changed
    }

    /// `application/json` or any `application/*+json`, parameters ignored.
    static func isJSON(contentType: String?) -> Bool {
        guard let contentType else { return false }
        let mediaType = contentType.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        let type = mediaType.trimmingSpaces().lowercased()
        return type == "application/json" || (type.hasPrefix("application/") && type.hasSuffix("+json"))
    }
}

extension Substring {
    func trimmingSpaces() -> Substring {
        var s = self
        while let c = s.first, c == " " || c == "\t" { s = s.dropFirst() }
        while let c = s.last, c == " " || c == "\t" { s = s.dropLast() }
        return s
    }
}
