import GatewayPluginSDK

/// The OpenAPI 3.1 description of one published prompt: `POST <path>` with a request
/// schema made from the declared variables, and its 200 / 400 / 413 answers.
enum PromptOpenAPI {
    static func document(_ config: PromptConfig, path: String) -> String {
        let operation: JSONValue = .object([
            "operationId": .string(config.name),
            "summary": .string(config.description ?? "Prompt \(config.name)"),
            "description": .string(
                "Prompt template \(config.name), version \(config.version), on model \(config.model). "
                    + "The body is a JSON object of the prompt's variables."),
            "requestBody": .object([
                "required": .bool(true),
                "content": .object(["application/json": .object(["schema": requestSchema(config)])]),
            ]),
            "responses": .object([
                "200": success(config),
                "400": failure("invalid variables, or a body that is not a JSON object", withDetails: true),
                "413": failure("request body over \(config.maxBodyBytes) bytes", withDetails: false),
            ]),
        ])
        let document: JSONValue = .object([
            "openapi": .string("3.1.0"),
            "info": .object([
                "title": .string(config.name),
                "version": .string(config.version),
                "description": .string(config.description ?? "Prompt template \(config.name) published by gw"),
            ]),
            "paths": .object([path: .object(["post": operation])]),
            "x-gw-prompt": .object([
                "name": .string(config.name), "version": .string(config.version), "model": .string(config.model),
                "response": .string(config.response.rawValue), "stream": .bool(config.allowStream),
            ]),
        ])
        return document.serialized()
    }

    static func requestSchema(_ config: PromptConfig) -> JSONValue {
        var properties: [String: JSONValue] = [:]
        for variable in config.variables {
            var schema: [String: JSONValue] = [:]
            switch variable.kind {
            case .string: schema["type"] = .string("string")
            case .number: schema["type"] = .string("number")
            case .integer: schema["type"] = .string("integer")
            case .boolean: schema["type"] = .string("boolean")
            case .enum:
                schema["type"] = .string("string")
                schema["enum"] = .array(variable.values.map(JSONValue.string))
            }
            if let maxLength = variable.maxLength { schema["maxLength"] = .number(Double(maxLength)) }
            if let value = variable.defaultValue { schema["default"] = value }
            if let description = variable.description { schema["description"] = .string(description) }
            properties[variable.name] = .object(schema)
        }
        if config.allowStream {
            properties["stream"] = .object([
                "type": .string("boolean"), "default": .bool(false),
                "description": .string("answer as Server-Sent Events"),
            ])
        }
        return .object([
            "type": .string("object"),
            "properties": .object(properties),
            "required": .array(config.variables.filter(\.required).map { .string($0.name) }),
            "additionalProperties": .bool(false),
        ])
    }

    static let usage: JSONValue = .object([
        "type": .string("object"),
        "properties": .object([
            "prompt_tokens": .object(["type": .string("integer")]),
            "completion_tokens": .object(["type": .string("integer")]),
            "total_tokens": .object(["type": .string("integer")]),
        ]),
    ])

    private static func success(_ config: PromptConfig) -> JSONValue {
        var content: [String: JSONValue] = ["application/json": .object(["schema": answerSchema(config.response)])]
        if config.allowStream {
            let events =
                config.response == .simple
                ? "Server-Sent Events: data: {\"delta\": text} ..., data: {\"finish_reason\": ...}, data: {\"usage\": {...}}, data: [DONE]"
                : "Server-Sent Events: OpenAI chat.completion.chunk objects, the last with usage, then data: [DONE]"
            content["text/event-stream"] = .object([
                "schema": .object(["type": .string("string"), "description": .string(events)])
            ])
        }
        return .object([
            "description": .string(config.response == .simple ? "the model's answer" : "the chat completion"),
            "headers": .object([
                "x-gw-prompt-version": .object([
                    "description": .string("the version of the prompt template that answered"),
                    "schema": .object(["type": .string("string")]),
                ])
            ]),
            "content": .object(content),
        ])
    }

    private static func answerSchema(_ mode: PromptConfig.ResponseMode) -> JSONValue {
        switch mode {
        case .simple:
            return .object([
                "type": .string("object"),
                "properties": .object([
                    "result": .object(["type": .array([.string("string"), .string("null")])]),
                    "finish_reason": .object(["type": .array([.string("string"), .string("null")])]),
                    "model": .object(["type": .string("string")]),
                    "usage": usage,
                ]),
                "required": .array([.string("result")]),
            ])
        case .raw:
            let message: JSONValue = .object([
                "type": .string("object"),
                "properties": .object([
                    "role": .object(["type": .string("string")]),
                    "content": .object(["type": .array([.string("string"), .string("null")])]),
                ]),
            ])
            let choice: JSONValue = .object([
                "type": .string("object"),
                "properties": .object([
                    "index": .object(["type": .string("integer")]),
                    "message": message,
                    "finish_reason": .object(["type": .array([.string("string"), .string("null")])]),
                ]),
            ])
            return .object([
                "type": .string("object"),
                "description": .string("an OpenAI Chat Completions response (object chat.completion)"),
                "properties": .object([
                    "id": .object(["type": .string("string")]),
                    "object": .object(["type": .string("string")]),
                    "created": .object(["type": .string("integer")]),
                    "model": .object(["type": .string("string")]),
                    "choices": .object(["type": .string("array"), "items": choice]),
                    "usage": usage,
                ]),
                "required": .array([.string("choices")]),
            ])
        }
    }

    private static func failure(_ description: String, withDetails: Bool) -> JSONValue {
        var error: [String: JSONValue] = [
            "type": .object(["type": .string("string")]),
            "message": .object(["type": .string("string")]),
        ]
        if withDetails {
            error["details"] = .object([
                "type": .string("array"),
                "items": .object([
                    "type": .string("object"),
                    "properties": .object([
                        "variable": .object(["type": .string("string")]),
                        "problem": .object([
                            "type": .string("string"),
                            "enum": .array(["missing", "wrong_type", "not_in_enum", "too_long", "unknown", "not_allowed"].map(JSONValue.string)),
                        ]),
                        "message": .object(["type": .string("string")]),
                    ]),
                ]),
            ])
        }
        let schema: JSONValue = .object([
            "type": .string("object"),
            "properties": .object(["error": .object(["type": .string("object"), "properties": .object(error)])]),
        ])
        return .object([
            "description": .string(description),
            "content": .object(["application/json": .object(["schema": schema])]),
        ])
    }
}
