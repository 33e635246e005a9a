/// The price table shipped with gw: US dollars per million tokens, as the providers
/// publish them (list prices, standard tier, prompts under 200k tokens). It is data:
/// override or extend it with `ai.prices` (inline) or `ai.prices_file` (a JSON file of
/// this same shape) in the config.
enum BuiltinPrices {
    static let json = """
        {
          "currency": "USD",
          "unit": "per 1M tokens",
          "models": {
            "gpt-5":                  {"input": 1.25, "output": 10.00, "cached_input": 0.125},
            "gpt-5-mini":             {"input": 0.25, "output": 2.00, "cached_input": 0.025},
            "gpt-5-nano":             {"input": 0.05, "output": 0.40, "cached_input": 0.005},
            "gpt-4.1":                {"input": 2.00, "output": 8.00, "cached_input": 0.50},
            "gpt-4.1-mini":           {"input": 0.40, "output": 1.60, "cached_input": 0.10},
            "gpt-4.1-nano":           {"input": 0.10, "output": 0.40, "cached_input": 0.025},
            "gpt-4o":                 {"input": 2.50, "output": 10.00, "cached_input": 1.25},
            "gpt-4o-mini":            {"input": 0.15, "output": 0.60, "cached_input": 0.075},
            "o3":                     {"input": 2.00, "output": 8.00, "cached_input": 0.50},
            "o4-mini":                {"input": 1.10, "output": 4.40, "cached_input": 0.275},
            "text-embedding-3-small": {"input": 0.02, "output": 0},
            "text-embedding-3-large": {"input": 0.13, "output": 0},
            "claude-opus-4-1":        {"input": 15.00, "output": 75.00, "cached_input": 1.50, "cache_write": 18.75},
            "claude-opus-4":          {"input": 15.00, "output": 75.00, "cached_input": 1.50, "cache_write": 18.75},
            "claude-sonnet-4-5":      {"input": 3.00, "output": 15.00, "cached_input": 0.30, "cache_write": 3.75},
            "claude-sonnet-4":        {"input": 3.00, "output": 15.00, "cached_input": 0.30, "cache_write": 3.75},
            "claude-haiku-4-5":       {"input": 1.00, "output": 5.00, "cached_input": 0.10, "cache_write": 1.25},
            "claude-3-5-haiku":       {"input": 0.80, "output": 4.00, "cached_input": 0.08, "cache_write": 1.00},
            "gemini-2.5-pro":         {"input": 1.25, "output": 10.00, "cached_input": 0.31},
            "gemini-2.5-flash":       {"input": 0.30, "output": 2.50, "cached_input": 0.075},
            "gemini-2.5-flash-lite":  {"input": 0.10, "output": 0.40, "cached_input": 0.025},
            "gemini-2.0-flash":       {"input": 0.10, "output": 0.40, "cached_input": 0.025},
            "text-embedding-004":     {"input": 0, "output": 0},
            "mistral-large-latest":   {"input": 2.00, "output": 6.00},
            "mistral-medium-latest":  {"input": 0.40, "output": 2.00},
            "mistral-small-latest":   {"input": 0.10, "output": 0.30},
            "mistral-embed":          {"input": 0.10, "output": 0},
            "deepseek-chat":          {"input": 0.27, "output": 1.10, "cached_input": 0.07},
            "deepseek-reasoner":      {"input": 0.55, "output": 2.19, "cached_input": 0.14},
            "mock":                   {"input": 0, "output": 0}
          }
        }
        """
}
