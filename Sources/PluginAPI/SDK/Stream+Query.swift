extension Stream {
    /// The decoded value of query parameter `name` (see `QueryString`), or nil.
    public func queryParameter(_ name: String) -> String? {
        guard let query = attribute(.query), !query.isEmpty else { return nil }
        return QueryString.value(of: name, in: query)
    }

    /// Remove every query parameter whose decoded name is in `names`, before the
    /// request leaves. Returns false if the query could not be written back.
    @discardableResult
    public func removeQueryParameters(_ names: [String]) -> Bool {
        guard let query = attribute(.query), !query.isEmpty, let rewritten = QueryString.removing(names, from: query) else {
            return true
        }
        return setAttribute(.query, rewritten)
    }

    /// Append already encoded `name=value` pairs (from `QueryString.pair`) to the query.
    @discardableResult
    public func appendQueryPairs(_ pairs: [String]) -> Bool {
        guard !pairs.isEmpty else { return true }
        var query = attribute(.query) ?? ""
        for pair in pairs { query = QueryString.appending(pair, to: query) }
        return setAttribute(.query, query)
    }
}
