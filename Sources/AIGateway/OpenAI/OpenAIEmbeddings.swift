/// OpenAI `/v1/embeddings` and `/v1/models` for clients.
public enum OpenAIEmbeddings {
    public static func decode(_ body: JSON) throws(AIError) -> EmbeddingRequest {
        guard let model = body["model"]?.string, !model.isEmpty else { throw .invalid("\"model\" is required") }
        var inputs: [String]
        switch body["input"] {
        case .string(let s)?: inputs = [s]
        case .array(let items)?:
            inputs = []
            for item in items {
                guard let s = item.string else {
                    throw .invalid("\"input\" must be a string or an array of strings (token arrays are not supported)")
                }
                inputs.append(s)
            }
        default: throw .invalid("\"input\" is required")
        }
        guard !inputs.isEmpty else { throw .invalid("\"input\" must not be empty") }
        var request = EmbeddingRequest(model: model, inputs: inputs)
        request.dimensions = body["dimensions"]?.int
        request.encodingFormat = body["encoding_format"]?.string
        if let format = request.encodingFormat, format != "float", format != "base64" {
            throw .invalid("\"encoding_format\" must be float or base64")
        }
        return request
    }

    public static func encode(_ response: EmbeddingResponse, model: String, base64: Bool) -> JSON {
        let data: [JSON] = response.vectors.enumerated().map { index, vector in
            .obj([
                "object": .string("embedding"), "index": .int(index),
                "embedding": base64 ? .string(Base64.float32(vector)) : .array(vector.map(JSON.double)),
            ])
        }
        return .obj([
            "object": .string("list"), "data": .array(data), "model": .string(model),
            "usage": .obj(["prompt_tokens": .int(response.usage.input), "total_tokens": .int(response.usage.input)]),
        ])
    }

    public static func models(_ names: [(name: String, owner: String)], created: Int) -> JSON {
        .obj([
            "object": .string("list"),
            "data": .array(
                names.map {
                    .obj(["id": .string($0.name), "object": .string("model"), "created": .int(created), "owned_by": .string($0.owner)])
                }),
        ])
    }
}

enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Little-endian IEEE float32 values, base64-encoded (OpenAI's `encoding_format: base64`).
    static func float32(_ values: [Double]) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(values.count * 4)
        for v in values {
            let bits = Float(v).bitPattern
            bytes.append(UInt8(bits & 0xff))
            bytes.append(UInt8((bits >> 8) & 0xff))
            bytes.append(UInt8((bits >> 16) & 0xff))
            bytes.append(UInt8(bits >> 24))
        }
        return encode(bytes)
    }

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i + 2 < bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out += [alphabet[Int(n >> 18)], alphabet[Int((n >> 12) & 63)], alphabet[Int((n >> 6) & 63)], alphabet[Int(n & 63)]]
            i += 3
        }
        let rest = bytes.count - i
        if rest == 1 {
            let n = UInt32(bytes[i]) << 16
            out += [alphabet[Int(n >> 18)], alphabet[Int((n >> 12) & 63)], UInt8(ascii: "="), UInt8(ascii: "=")]
        } else if rest == 2 {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
            out += [alphabet[Int(n >> 18)], alphabet[Int((n >> 12) & 63)], alphabet[Int((n >> 6) & 63)], UInt8(ascii: "=")]
        }
        return String(decoding: out, as: UTF8.self)
    }
}
