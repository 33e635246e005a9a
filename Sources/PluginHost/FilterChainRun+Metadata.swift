extension FilterChainRun {
    /// Host-side metadata (for example the AI call's usage and cost), readable by the
    /// filters' later hooks and by the call log. `key` is "namespace.name".
    public func setMetadata(_ key: String, _ value: String) {
        metadata[key] = Array(value.utf8)
    }

    /// A metadata value as text ("auth.consumer").
    public func metadataString(_ key: String) -> String? {
        metadata[key].map { String(decoding: $0, as: UTF8.self) }
    }
}
