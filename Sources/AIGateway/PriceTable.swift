/// Prices in US dollars per million tokens, per model.
public struct Price: Sendable, Equatable {
    public var input: Double
    public var output: Double
    /// Cache reads; the input price when the provider has no discount.
    public var cachedInput: Double
    /// Cache writes (Anthropic); the input price when absent.
    public var cacheWrite: Double

    public init(input: Double, output: Double, cachedInput: Double? = nil, cacheWrite: Double? = nil) {
        self.input = input
        self.output = output
        self.cachedInput = cachedInput ?? input
        self.cacheWrite = cacheWrite ?? input
    }

    /// The cost of one call. Reasoning tokens are output tokens (they are billed as such).
    public func cost(_ usage: Usage) -> Double {
        let plainInput = max(0, usage.input - usage.cachedInput - usage.cacheWrite)
        let micro = Double(plainInput) * input + Double(usage.cachedInput) * cachedInput
            + Double(usage.cacheWrite) * cacheWrite + Double(usage.output) * output
        return micro / 1_000_000
    }
}

/// The price table: the built-in data (`BuiltinPrices.json`), with config overrides on top.
public struct PriceTable: Sendable {
    public private(set) var prices: [String: Price]

    public init(prices: [String: Price]) {
        self.prices = prices
    }

    /// Parse a table in the data file's shape: `{"models": {"name": {"input": .., "output": .., "cached_input": .., "cache_write": ..}}}`.
    public static func parse(_ text: String) throws(AIError) -> PriceTable {
        let json: JSON
        do { json = try JSON.parse(text) } catch { throw .invalid("price table: \(error)") }
        guard let models = json["models"]?.members else { throw .invalid("price table: \"models\" object expected") }
        var prices: [String: Price] = [:]
        for member in models {
            let p = member.value
            guard let input = p["input"]?.double, let output = p["output"]?.double else {
                throw .invalid("price table: \(member.key) needs input and output")
            }
            prices[member.key] = Price(
                input: input, output: output, cachedInput: p["cached_input"]?.double, cacheWrite: p["cache_write"]?.double)
        }
        return PriceTable(prices: prices)
    }

    public static let builtin: PriceTable = (try? parse(BuiltinPrices.json)) ?? PriceTable(prices: [:])

    public mutating func override(_ model: String, _ price: Price) {
        prices[model] = price
    }

    /// The price of `model`: exact name, else the longest known name it starts with
    /// (dated versions: "gpt-4o-2024-08-06" is priced as "gpt-4o"), ignoring a
    /// "provider/" prefix.
    public func price(for model: String) -> Price? {
        if let p = prices[model] { return p }
        let bare = model.split(separator: "/").last.map(String.init) ?? model
        if let p = prices[bare] { return p }
        var best: (Int, Price)?
        for (name, price) in prices where bare.hasPrefix(name) {
            let next = bare.dropFirst(name.count).first
            guard next == "-" || next == "@" || next == ":" else { continue }
            if best == nil || name.count > best!.0 { best = (name.count, price) }
        }
        return best?.1
    }
}
