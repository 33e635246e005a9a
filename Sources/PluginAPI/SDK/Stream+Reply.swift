/// gw's JSON error shape, `{"error":{"type":"...","message":"..."}}`, for local replies.
public enum ErrorReply {
    /// The body for `type` and `message` (both JSON-escaped). Build it once in
    /// `FilterFactory.init` when the message is fixed.
    public static func body(type: String, message: String) -> String {
        "{\"error\":{\"type\":" + JSONValue.quote(type) + ",\"message\":" + JSONValue.quote(message) + "}}"
    }
}

extension Stream {
    /// Answer with gw's JSON error shape and `content-type: application/json`;
    /// return `.stop` from the hook afterwards.
    @discardableResult
    public func sendErrorReply(
        status: Int, type: String, message: String, headers: [(String, String)] = [], details: String = ""
    ) -> Bool {
        sendLocalReply(
            status: status, headers: headers + [("content-type", "application/json")],
            body: ErrorReply.body(type: type, message: message), details: details)
    }
}
