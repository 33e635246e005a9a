import GatewayPluginSDK

extension CacheFilter {
    /// The primary key: method ("GET" for GET and HEAD), route, host, path and query,
    /// the configured `key_headers`, and for POST the SHA-256 of the body. Nil when the
    /// material exceeds `max_key_bytes` (the request bypasses the cache).
    func primaryKey(_ stream: Stream, method: String) -> CacheKey? {
        let route = stream.attribute(.routeName) ?? ""
        let authority = (stream.attribute(.authority) ?? "").lowercased()
        let path = stream.attribute(.path) ?? ""
        let query = stream.attribute(.query) ?? ""
        var material = KeyMaterial(capacity: 64 + route.utf8.count + authority.utf8.count + path.utf8.count + query.utf8.count)
        material.add(method)
        material.add(route)
        material.add(authority)
        material.add(path)
        material.add(query)
        for name in config.keyHeaders { addHeader(stream, name, to: &material) }
        if method == "POST" {
            guard let bodyDigest else { return nil }
            material.add(bodyDigest)
        }
        guard material.count <= config.maxKeyBytes else { return nil }
        return material.digest()
    }

    /// The key of one variant of a resource that varies on `names`: the primary key
    /// plus each named request header's values.
    func variantKey(_ stream: Stream, primary: CacheKey, names: [String]) -> CacheKey? {
        var material = KeyMaterial(capacity: 64 + names.count * 32)
        material.add(primary)
        for name in names {
            material.add(name)
            addHeader(stream, name, to: &material)
        }
        guard material.count <= config.maxKeyBytes else { return nil }
        return material.digest()
    }

    /// The key of the URI's GET entry, for invalidation after an unsafe method.
    func getKey(_ stream: Stream) -> CacheKey? {
        primaryKey(stream, method: "GET")
    }

    /// Every value of request header `name`, in order, each length-prefixed (an absent
    /// header and an empty one differ).
    private func addHeader(_ stream: Stream, _ name: String, to material: inout KeyMaterial) {
        var index = 0
        while stream.withHeader(name, .request, index: index, { value, _ in material.add(value) }) != nil {
            index += 1
            if material.count > config.maxKeyBytes { return }
        }
        material.add("\(index)")
    }
}
