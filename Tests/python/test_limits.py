"""Token limits and budgets: reserved before the call, so concurrency cannot overshoot."""

import time
from concurrent.futures import ThreadPoolExecutor

import openai


def test_tokens_per_minute_hold_under_concurrent_requests(gw):
    # Stay inside one minute window.
    if time.time() % 60 > 50:
        time.sleep(61 - time.time() % 60)
    client = openai.OpenAI(base_url=gw.url("/keyed/v1"), api_key="sk-limited", max_retries=0, timeout=10)
    before = gw.recorder.count("gpt-slow")

    def call(_):
        try:
            client.chat.completions.create(model="slow", max_tokens=200, messages=[{"role": "user", "content": "hi"}])
            return "ok"
        except openai.RateLimitError as e:
            assert e.response.headers["x-gw-error"] == "token_limit"
            assert int(e.response.headers["retry-after"]) > 0
            return "limited"

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(call, range(20)))
    admitted = results.count("ok")
    # Each call reserves ~200+ tokens against 1000 per minute: at most 4 can hold a reservation at once.
    assert 1 <= admitted <= 4, results
    assert results.count("limited") == 20 - admitted
    assert gw.recorder.count("gpt-slow") - before == admitted, "refused calls never reach the provider"


def test_a_budget_refuses_a_call_it_cannot_afford(gw):
    client = openai.OpenAI(base_url=gw.url("/keyed/v1"), api_key="sk-broke", max_retries=0)
    before = gw.recorder.count("gpt-ok")
    try:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
        raise AssertionError("expected a 429")
    except openai.RateLimitError as e:
        assert e.response.headers["x-gw-error"] == "budget_exhausted"
    assert gw.recorder.count("gpt-ok") == before
