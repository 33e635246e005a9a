"""The official `openai` Python SDK against gw, with every provider behind it."""

import json

import openai
import pytest

from conftest import GW_KEY


@pytest.fixture()
def client(gw):
    return openai.OpenAI(base_url=gw.url("/v1"), api_key="unused-by-gw", max_retries=0, timeout=10)


def ask(client, model, **kw):
    return client.chat.completions.create(model=model, messages=[
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Say hello"}], **kw)


@pytest.mark.parametrize("alias,text", [
    ("gpt-4o", "Hello from the OpenAI stub."),
    ("claude", "Hello from the Anthropic stub."),
    ("gemini", "Hello from the Gemini stub."),
])
def test_chat_completion_through_each_provider(client, alias, text):
    raw = client.chat.completions.with_raw_response.create(model=alias, messages=[{"role": "user", "content": "Say hello"}])
    completion = raw.parse()
    assert completion.choices[0].message.content == text
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == alias
    assert completion.usage.prompt_tokens > 0 and completion.usage.completion_tokens > 0
    assert raw.headers["x-gw-model"] == alias
    assert float(raw.headers["x-gw-cost-usd"]) >= 0


def test_openai_usage_and_cost_keep_cached_and_reasoning_tokens(client, gw):
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    c = raw.parse()
    assert (c.usage.prompt_tokens, c.usage.completion_tokens) == (11, 7)
    assert c.usage.prompt_tokens_details.cached_tokens == 3
    assert c.usage.completion_tokens_details.reasoning_tokens == 2
    # price override: 8 plain input at 2.0, 3 cached at 1.0, 7 output at 8.0 per million
    assert raw.headers["x-gw-cost-usd"] == "%.8f" % ((8 * 2.0 + 3 * 1.0 + 7 * 8.0) / 1e6)


def test_anthropic_provider_gets_a_real_messages_request(client, gw):
    c = ask(client, "claude", max_tokens=64, temperature=0.5)
    sent = gw.recorder.last("claude-ok")
    assert sent["path"] == "/v1/messages"
    assert sent["body"]["system"] == "Be brief."
    assert sent["body"]["max_tokens"] == 64
    assert [m["role"] for m in sent["body"]["messages"]] == ["user"]
    assert "authorization" not in {k.lower() for k in sent["headers"]}, "the client's key never reaches the provider"
    # Anthropic input_tokens (20) + cache read (5) + cache write (2)
    assert c.usage.prompt_tokens == 27
    assert c.usage.prompt_tokens_details.cached_tokens == 5


def test_streaming_through_openai_provider_with_usage(client, gw):
    stream = ask(client, "gpt-4o", stream=True, stream_options={"include_usage": True})
    text, usage, finish = "", None, None
    for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage:
            usage = chunk.usage
    assert text == "Hello from the OpenAI stub."
    assert finish == "stop"
    assert usage.prompt_tokens == 11 and usage.completion_tokens == 7
    assert gw.recorder.last("gpt-ok")["body"]["stream_options"] == {"include_usage": True}


def test_streaming_asks_the_provider_for_usage_even_when_the_client_does_not(client, gw):
    chunks = list(ask(client, "gpt-4o", stream=True))
    assert all(c.usage is None for c in chunks), "no usage chunk the client did not ask for"
    assert gw.recorder.last("gpt-ok")["body"]["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("alias", ["claude", "gemini"])
def test_streaming_translated_from_other_providers(client, alias):
    stream = ask(client, alias, stream=True, stream_options={"include_usage": True})
    text, usage = "", None
    for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        usage = chunk.usage or usage
    assert text.startswith("Hello from") and text.endswith("stub.")
    assert usage is not None and usage.total_tokens > 0


TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]


@pytest.mark.parametrize("alias", ["gpt-tools", "claude-tools", "gemini-tools"])
def test_tool_calls(client, alias):
    c = client.chat.completions.create(model=alias, messages=[{"role": "user", "content": "Weather in Paris?"}], tools=TOOLS)
    call = c.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert c.choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize("alias", ["gpt-tools", "claude-tools", "gemini-tools"])
def test_streamed_tool_call_argument_deltas(client, alias):
    stream = client.chat.completions.create(model=alias, messages=[{"role": "user", "content": "Weather?"}], tools=TOOLS, stream=True)
    name, args, finish = None, "", None
    for chunk in stream:
        if not chunk.choices:
            continue
        for tc in chunk.choices[0].delta.tool_calls or []:
            name = tc.function.name or name
            args += tc.function.arguments or ""
        finish = chunk.choices[0].finish_reason or finish
    assert name == "get_weather"
    assert json.loads(args) == {"city": "Paris"}
    assert finish == "tool_calls"


def test_tool_results_reach_anthropic_as_tool_result_blocks(client, gw):
    client.chat.completions.create(model="claude", tools=TOOLS, messages=[
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "21C"}])
    messages = gw.recorder.last("claude-ok")["body"]["messages"]
    assert messages[1]["content"][0] == {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}}
    assert messages[2]["content"][0]["type"] == "tool_result" and messages[2]["content"][0]["tool_use_id"] == "call_1"


def test_embeddings_float_and_base64(client, gw):
    r = client.embeddings.create(model="embed", input=["a", "b"])  # the SDK asks for base64 by default
    assert [d.embedding for d in r.data] == [[0.25, -0.5, 0.0], [0.25, -0.5, 1.0]]
    assert r.usage.prompt_tokens == 10
    r = client.embeddings.create(model="embed", input="a", encoding_format="float")
    assert r.data[0].embedding == [0.25, -0.5, 0.0]


def test_models_lists_the_catalogue(client):
    ids = [m.id for m in client.models.list()]
    assert "gpt-4o" in ids and "claude" in ids and "gemini" in ids


def test_unknown_model_is_a_404_in_openai_shape(client):
    with pytest.raises(openai.NotFoundError) as e:
        ask(client, "no-such-model")
    assert e.value.body["type"] == "not_found_error"


def test_a_provider_400_is_returned_not_retried(client, gw):
    before = gw.recorder.count("claude-ok")
    with pytest.raises(openai.BadRequestError) as e:
        ask(client, "bad-request")
    assert "messages too long" in str(e.value)
    assert gw.recorder.count("claude-ok") == before, "a client error does not fail over"


def test_fallback_from_a_failing_deployment(client, gw):
    before_bad, before_good = gw.recorder.count("gpt-500"), gw.recorder.count("claude-ok")
    raw = client.chat.completions.with_raw_response.create(model="flaky", messages=[{"role": "user", "content": "hi"}])
    assert raw.parse().choices[0].message.content == "Hello from the Anthropic stub."
    assert raw.headers["x-gw-provider"] == "anthropic"
    assert raw.headers["x-gw-attempts"] == "2"
    assert gw.recorder.count("gpt-500") == before_bad + 1
    assert gw.recorder.count("claude-ok") == before_good + 1


def test_a_429_cools_the_deployment_down_for_its_retry_after(client, gw):
    c1 = ask(client, "limited-provider")
    assert c1.choices[0].message.content == "Hello from the Gemini stub."
    hits = gw.recorder.count("gpt-429")
    c2 = ask(client, "limited-provider")
    assert c2.choices[0].message.content == "Hello from the Gemini stub."
    assert gw.recorder.count("gpt-429") == hits, "the rate-limited deployment is skipped during its Retry-After"


def test_streaming_fails_over_before_any_content(client):
    chunks = list(client.chat.completions.create(model="flaky", messages=[{"role": "user", "content": "hi"}], stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello from the Anthropic stub."


def test_a_stream_cut_short_ends_with_an_error_not_a_clean_end(client):
    stream = ask(client, "cut", stream=True)
    got = ""
    with pytest.raises(openai.APIError):
        for chunk in stream:
            if chunk.choices:
                got += chunk.choices[0].delta.content or ""
    assert got == "Hello from"


def test_garbage_from_the_provider_is_a_502(client):
    with pytest.raises(openai.APIStatusError) as e:
        ask(client, "garbage")
    assert e.value.status_code == 502
    assert e.value.response.headers["x-gw-error"] == "upstream_error"


def test_overloaded_provider_maps_to_a_5xx_with_the_providers_message(client):
    with pytest.raises(openai.APIStatusError) as e:
        ask(client, "overloaded")
    assert e.value.status_code == 529
    assert "Overloaded" in str(e.value)


def test_invalid_json_body_is_a_400(gw):
    import urllib.error
    import urllib.request
    req = urllib.request.Request(gw.url("/v1/chat/completions"), data=b"{not json", method="POST",
                                 headers={"content-type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=5)
    assert e.value.code == 400
    assert json.loads(e.value.read())["error"]["type"] == "invalid_request_error"


def test_mock_provider_answers_deterministically_and_streams(client):
    a = ask(client, "mock").choices[0].message.content
    b = ask(client, "mock").choices[0].message.content
    assert a == b and "Say hello" in a
    streamed = "".join(c.choices[0].delta.content or "" for c in ask(client, "mock", stream=True) if c.choices)
    assert streamed == a


def test_behind_the_auth_filter_the_client_key_is_checked_and_not_forwarded(gw):
    keyed = openai.OpenAI(base_url=gw.url("/keyed/v1"), api_key=GW_KEY, max_retries=0)
    assert ask(keyed, "gpt-4o").choices[0].message.content == "Hello from the OpenAI stub."
    headers = {k.lower(): v for k, v in gw.recorder.last("gpt-ok")["headers"].items()}
    assert headers["authorization"] == "Bearer sk-openai-stub"
    bad = openai.OpenAI(base_url=gw.url("/keyed/v1"), api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        ask(bad, "gpt-4o")


def test_azure_openai_gets_its_deployment_path_api_version_and_api_key(client, gw):
    c = ask(client, "azure-gpt", max_tokens=20)
    assert c.choices[0].message.content == "Hello from the OpenAI stub."
    sent = gw.recorder.last("my-gpt-deployment")
    assert sent["path"] == "/openai/deployments/my-gpt-deployment/chat/completions?api-version=2024-10-21"
    assert sent["body"]["max_completion_tokens"] == 20


def test_mistral_gets_any_for_a_required_tool_choice_and_no_stream_options(client, gw):
    list(client.chat.completions.create(model="mistral", messages=[{"role": "user", "content": "hi"}], tools=TOOLS,
                                        tool_choice="required", stream=True))
    sent = gw.recorder.last("mistral-stub")["body"]
    assert sent["tool_choice"] == "any"
    assert "stream_options" not in sent


def test_a_route_with_a_fixed_endpoint_and_an_allow_list(gw):
    import urllib.request
    body = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}).encode()
    r = urllib.request.urlopen(urllib.request.Request(gw.url("/apis/ask"), data=body, method="POST"), timeout=5)
    assert json.loads(r.read())["choices"][0]["message"]["content"] == "Hello from the OpenAI stub."
    body = json.dumps({"model": "claude", "messages": [{"role": "user", "content": "hi"}]}).encode()
    import urllib.error
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(urllib.request.Request(gw.url("/apis/ask"), data=body, method="POST"), timeout=5)
    assert e.value.code == 404


def test_weighted_deployments_share_traffic_by_weight(client, gw):
    a0, b0 = gw.recorder.count("gpt-weight-a"), gw.recorder.count("gpt-weight-b")
    for _ in range(200):
        client.chat.completions.create(model="weighted", messages=[{"role": "user", "content": "hi"}])
    a, b = gw.recorder.count("gpt-weight-a") - a0, gw.recorder.count("gpt-weight-b") - b0
    assert a + b == 200, "one try per call while both answer"
    assert 0.62 <= a / 200 <= 0.88, (a, b)  # weight 3:1 -> 75 %; bounds ~5 standard deviations
