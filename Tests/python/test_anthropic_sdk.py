"""The official `anthropic` Python SDK against gw's /v1/messages, with any provider behind it."""

import anthropic
import pytest

TOOLS = [{"name": "get_weather", "description": "Weather in a city",
          "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]


@pytest.fixture()
def client(gw):
    return anthropic.Anthropic(base_url=gw.url(""), api_key="unused-by-gw", max_retries=0, timeout=10)


@pytest.mark.parametrize("alias,text", [
    ("gpt-4o", "Hello from the OpenAI stub."),
    ("claude", "Hello from the Anthropic stub."),
    ("gemini", "Hello from the Gemini stub."),
])
def test_messages_through_each_provider(client, alias, text):
    m = client.messages.create(model=alias, max_tokens=100, system="Be brief.", messages=[{"role": "user", "content": "Say hello"}])
    assert m.content[0].type == "text" and m.content[0].text == text
    assert m.stop_reason == "end_turn"
    assert m.usage.input_tokens > 0 and m.usage.output_tokens > 0


def test_system_prompt_and_usage_reach_an_openai_provider(client, gw):
    m = client.messages.create(model="gpt-4o", max_tokens=50, system="Be brief.", messages=[{"role": "user", "content": "hi"}])
    sent = gw.recorder.last("gpt-ok")["body"]
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}
    assert sent["max_tokens"] == 50
    # OpenAI prompt_tokens 11 of which 3 cached: Anthropic reports 8 plain input + 3 cache reads.
    assert (m.usage.input_tokens, m.usage.cache_read_input_tokens, m.usage.output_tokens) == (8, 3, 7)


@pytest.mark.parametrize("alias", ["gpt-4o", "claude", "gemini"])
def test_streaming_messages(client, alias):
    with client.messages.stream(model=alias, max_tokens=100, messages=[{"role": "user", "content": "Say hello"}]) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text.startswith("Hello from") and text.endswith("stub.")
    assert final.content[0].text == text
    assert final.usage.output_tokens > 0


@pytest.mark.parametrize("alias", ["gpt-tools", "claude-tools", "gemini-tools"])
def test_streamed_tool_use_keeps_its_input(client, alias):
    with client.messages.stream(model=alias, max_tokens=100, tools=TOOLS,
                                messages=[{"role": "user", "content": "Weather in Paris?"}]) as stream:
        final = stream.get_final_message()
    tool = [b for b in final.content if b.type == "tool_use"][0]
    assert tool.name == "get_weather"
    assert tool.input == {"city": "Paris"}
    assert final.stop_reason == "tool_use"


def test_tool_use_and_result_round_trip_to_openai(client, gw):
    m = client.messages.create(model="gpt-tools", max_tokens=100, tools=TOOLS, messages=[
        {"role": "user", "content": "Weather in Paris?"}])
    tool = [b for b in m.content if b.type == "tool_use"][0]
    client.messages.create(model="gpt-4o", max_tokens=100, tools=TOOLS, messages=[
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": tool.id, "name": tool.name, "input": tool.input}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool.id, "content": "21C"}]}])
    sent = gw.recorder.last("gpt-ok")["body"]["messages"]
    assert sent[1]["tool_calls"][0]["id"] == tool.id
    assert sent[2] == {"role": "tool", "content": "21C", "tool_call_id": tool.id}


def test_unknown_model_is_a_not_found_error(client):
    with pytest.raises(anthropic.NotFoundError):
        client.messages.create(model="nope", max_tokens=10, messages=[{"role": "user", "content": "hi"}])


def test_provider_errors_keep_their_status_in_anthropic_shape(client):
    with pytest.raises(anthropic.APIStatusError) as e:
        client.messages.create(model="overloaded", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert e.value.status_code == 529
    assert e.value.body["error"]["type"] == "overloaded_error"


def test_missing_max_tokens_is_refused_like_anthropic_does(gw):
    import json
    import urllib.error
    import urllib.request
    req = urllib.request.Request(gw.url("/v1/messages"), method="POST",
                                 data=json.dumps({"model": "claude", "messages": [{"role": "user", "content": "hi"}]}).encode())
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=5)
    assert e.value.code == 400
    assert json.loads(e.value.read())["error"]["type"] == "invalid_request_error"


def test_a_stream_cut_short_ends_with_an_error_event(client):
    with pytest.raises(anthropic.APIError):
        with client.messages.stream(model="cut", max_tokens=100, messages=[{"role": "user", "content": "hi"}]) as stream:
            for _ in stream.text_stream:
                pass
