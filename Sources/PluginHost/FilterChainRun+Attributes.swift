import CGatewayPlugin
import NIOCore
import NIOHTTP1

extension FilterChainRun {
    /// The value of a `gw_attribute`, or nil if not known (yet).
    func attribute(_ raw: UInt32) -> String? {
        switch raw {
        case GW_ATTR_METHOD.rawValue: return requestMethod.rawValue
        case GW_ATTR_PATH.rawValue:
            let uri = requestURI
            return uri.utf8.firstIndex(of: 63).map { String(uri[..<$0]) } ?? uri
        case GW_ATTR_QUERY.rawValue:
            let uri = requestURI
            return uri.utf8.firstIndex(of: 63).map { String(uri[uri.utf8.index(after: $0)...]) } ?? ""
        case GW_ATTR_AUTHORITY.rawValue:
            if let requestBytes { return requestBytes.lines.first("host") ?? "" }
            return storedRequestHead.headers.first(name: "host") ?? ""
        case GW_ATTR_SCHEME.rawValue: return info.scheme
        case GW_ATTR_CLIENT_ADDRESS.rawValue: return info.clientAddress
        case GW_ATTR_REQUEST_ID.rawValue: return info.requestID
        case GW_ATTR_ROUTE_NAME.rawValue: return info.routeName
        case GW_ATTR_UPSTREAM_NAME.rawValue: return info.upstreamName
        case GW_ATTR_RESPONSE_STATUS.rawValue:
            if let responseBytes { return String(responseBytes.status) }
            return responseHead.map { String($0.status.code) }
        case GW_ATTR_PROTOCOL.rawValue:
            let version = requestBytes?.version ?? storedRequestHead.version
            return "HTTP/\(version.major).\(version.minor)"
        default: return nil
        }
    }

    /// The request target the upstream gets (either form of the head).
    var requestURI: String { requestBytes?.uri ?? storedRequestHead.uri }

    /// Set the method or target in whichever form the head is.
    private func setRequestLine(method: HTTPMethod? = nil, uri: String? = nil) {
        if requestBytes != nil {
            if let method { requestBytes!.method = method }
            if let uri { requestBytes!.uri = uri }
        } else {
            if let method { storedRequestHead.method = method }
            if let uri { storedRequestHead.uri = uri }
        }
    }

    /// Change a settable attribute. Request attributes only before the head left.
    func setAttribute(_ raw: UInt32, _ value: String) -> gw_result {
        let requestOpen = !directions[FlowDirection.request.rawValue].headersComplete
        switch raw {
        case GW_ATTR_METHOD.rawValue:
            guard requestOpen, !value.isEmpty, value.utf8.allSatisfy(isTokenByte) else { return GW_E_BAD_ARGUMENT }
            setRequestLine(method: HTTPMethod(rawValue: value))
        case GW_ATTR_PATH.rawValue:
            // Written into the request line as it is: no `?` (the query is its own
            // attribute), no `#`, no space or control byte (the host already refused CR,
            // LF and NUL; a tab or DEL would split or garble the line upstream).
            guard requestOpen, value.utf8.first == 47, !value.utf8.contains(63), !value.utf8.contains(35),
                value.utf8.allSatisfy(isRequestLineByte)
            else { return GW_E_BAD_ARGUMENT }
            // The upstream gets the path the route's filters were chosen by, in the same form.
            var path = value
            if normalizesPaths {
                do throws(PathNormalizer.Failure) {
                    if let normalized = try PathNormalizer.normalize(value, encodedSlashes: encodedSlashes) { path = normalized }
                } catch {
                    return GW_E_BAD_ARGUMENT
                }
            }
            let uri = requestURI
            let query = uri.utf8.firstIndex(of: 63).map { String(uri[$0...]) } ?? ""
            setRequestLine(uri: path + query)
        case GW_ATTR_QUERY.rawValue:
            guard requestOpen, !value.utf8.contains(35), value.utf8.allSatisfy(isRequestLineByte) else { return GW_E_BAD_ARGUMENT }
            let uri = requestURI
            let path = uri.utf8.firstIndex(of: 63).map { String(uri[..<$0]) } ?? uri
            setRequestLine(uri: value.isEmpty ? path : path + "?" + value)
        case GW_ATTR_AUTHORITY.rawValue:
            // A host[:port] for the Host header: no path, query, fragment or userinfo either.
            guard requestOpen, !value.isEmpty, value.utf8.allSatisfy(isRequestLineByte),
                !value.utf8.contains(where: { $0 == 47 || $0 == 63 || $0 == 35 || $0 == 64 })
            else { return GW_E_BAD_ARGUMENT }
            materializeRequestHead()
            storedRequestHead.headers.replaceOrAdd(name: "host", value: value)
        case GW_ATTR_RESPONSE_STATUS.rawValue:
            guard hasResponseHead, !directions[FlowDirection.response.rawValue].headersComplete,
                let code = Int(value), code >= 200, code <= 599
            else { return GW_E_BAD_ARGUMENT }
            materializeResponseHead()
            responseHead?.status = HTTPResponseStatus(statusCode: code)
        default:
            return GW_E_BAD_ARGUMENT
        }
        return GW_OK
    }

    /// Start a host-driven HTTP call for the current filter.
    func startCallout(_ request: CalloutRequest, idOut: UnsafeMutablePointer<UInt64>) -> gw_result {
        guard let client = services.callouts else { return GW_E_UNSUPPORTED }
        let index = currentFilter
        guard index >= 0 else { return GW_E_WRONG_CONTEXT }
        let id = nextCalloutID
        nextCalloutID += 1
        idOut.pointee = id
        let bound = NIOLoopBound(self, eventLoop: loop)
        client.execute(request, on: loop).hop(to: loop).whenComplete { result in
            bound.value.deliverCallout(filter: index, id: id, result: result)
        }
        return GW_OK
    }

    private func deliverCallout(filter index: Int, id: UInt64, result: Result<CalloutResponse, any Error>) {
        guard !finished, let instance = instances[index], let hook = chain.filters[index].table.on_callout_done else { return }
        continueRequested = false
        withHook(index) {
            switch result {
            case .success(let response):
                let headers = response.headers.map { gw_header(name: arena.store($0.0), value: arena.store($0.1)) }
                let body = response.body.withUnsafeReadableBytes { arena.store($0) }
                headers.withUnsafeBufferPointer { list in
                    hook(
                        instance, opaque, id, GW_CALLOUT_OK, UInt32(response.status), list.baseAddress, list.count,
                        gw_bytes(ptr: body.baseAddress?.assumingMemoryBound(to: UInt8.self), len: body.count))
                }
            case .failure(let error):
                let code: gw_callout_result
                switch error as? CalloutFailure {
                case .timeout: code = GW_CALLOUT_TIMEOUT
                case .connectFailed: code = GW_CALLOUT_CONNECT_FAILED
                case .tooLarge: code = GW_CALLOUT_TOO_LARGE
                default: code = GW_CALLOUT_RESET
                }
                hook(instance, opaque, id, code, 0, nil, 0, gw_bytes(ptr: nil, len: 0))
            }
        }
        afterAsyncHook(index)
    }
}

/// A byte a request target may carry as it is: visible ASCII (RFC 3986 characters, and
/// percent-encoding for the rest), as gw requires of the targets clients send.
@inline(__always)
func isRequestLineByte(_ c: UInt8) -> Bool { c > 32 && c < 127 }

/// An RFC 9110 token character (tchar, §5.6.2): ALPHA, DIGIT or one of
/// !#$%&'*+-.^_`|~, looked up in a 256-byte table, "1" for a token byte: one load and
/// compare per byte, half the instructions of a 128-bit set test. Every header name a
/// filter sets and every response header name the server scans goes through it. A
/// `StaticString` is a constant of the binary: no lazily initialised global, no
/// bounds check.
@inlinable @inline(__always)
public func isTokenByte(_ c: UInt8) -> Bool {
    let table: StaticString = """
        0000000000000000000000000000000001011111001101101111111111000000\
        0111111111111111111111111110001111111111111111111111111111101010\
        0000000000000000000000000000000000000000000000000000000000000000\
        0000000000000000000000000000000000000000000000000000000000000000
        """
    return table.utf8Start[Int(c)] == 0x31
}
