"""Starts the stub providers and a real gw binary configured against them."""

import os
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest

import stub_providers

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
GW = os.environ.get("GW_BINARY", os.path.join(ROOT, ".build", "debug", "gw"))
GW_KEY = "sk-gw-client-1"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CONFIG = """
version: 1
listeners:
  - name: main
    address: 127.0.0.1:{port}
admin:
  address: 127.0.0.1:{admin}
ai:
  providers:
    openai:    {{type: openai, base_url: "http://127.0.0.1:{stub}/v1", api_key: "env:STUB_OPENAI_KEY", timeout: 5s}}
    anthropic: {{type: anthropic, base_url: "http://127.0.0.1:{stub}/v1", api_key: "file:{keyfile}", timeout: 5s}}
    gemini:    {{type: gemini, base_url: "http://127.0.0.1:{stub}/v1beta", api_key: "env:STUB_GEMINI_KEY", timeout: 5s}}
    azure:     {{type: azure, base_url: "http://127.0.0.1:{stub}", api_key: "env:STUB_AZURE_KEY", api_version: "2024-10-21"}}
    mistral:   {{type: mistral, base_url: "http://127.0.0.1:{stub}/v1", api_key: "env:STUB_OPENAI_KEY"}}
    mock:      {{type: mock}}
  routing:
    backoff: 10ms
    cooldown_after: 100
  prices:
    gpt-ok: {{input: 2.0, output: 8.0, cached_input: 1.0}}
    claude-ok: {{input: 3.0, output: 15.0, cached_input: 0.3, cache_write: 3.75}}
  limits:
    consumers:
      limited: {{tokens_per_minute: 1000}}
      broke: {{budget_usd: 0.000001, budget_period: day}}
  models:
    - name: gpt-4o
      deployments: [{{provider: openai, model: gpt-ok}}]
    - name: gpt-tools
      deployments: [{{provider: openai, model: gpt-tool}}]
    - name: claude
      deployments: [{{provider: anthropic, model: claude-ok}}]
    - name: claude-tools
      deployments: [{{provider: anthropic, model: claude-tool}}]
    - name: gemini
      deployments: [{{provider: gemini, model: gemini-ok}}]
    - name: gemini-tools
      deployments: [{{provider: gemini, model: gemini-tool}}]
    - name: flaky
      deployments:
        - {{provider: openai, model: gpt-500, priority: 0}}
        - {{provider: anthropic, model: claude-ok, priority: 1}}
    - name: limited-provider
      deployments: [{{provider: openai, model: gpt-429}}]
      fallbacks: [gemini]
    - name: bad-request
      deployments: [{{provider: openai, model: gpt-400}}, {{provider: anthropic, model: claude-ok, priority: 1}}]
    - name: garbage
      deployments: [{{provider: openai, model: gpt-garbage}}]
    - name: cut
      deployments: [{{provider: openai, model: gpt-cut}}]
    - name: overloaded
      deployments: [{{provider: anthropic, model: claude-overloaded}}]
    - name: embed
      deployments: [{{provider: openai, model: text-embed-stub}}]
    - name: mock
      deployments: [{{provider: mock, model: mock}}]
    - name: azure-gpt
      deployments: [{{provider: azure, model: my-gpt-deployment}}]
    - name: mistral
      deployments: [{{provider: mistral, model: mistral-stub}}]
    - name: slow
      deployments: [{{provider: openai, model: gpt-slow}}]
    - name: weighted
      deployments:
        - {{provider: openai, model: gpt-weight-a, weight: 3}}
        - {{provider: openai, model: gpt-weight-b, weight: 1}}
routes:
  - name: keyed
    match: {{prefix: /keyed/v1/}}
    filters:
      - plugin: auth
        config:
          keys:
            - {{key: {gwkey}, consumer: alice}}
            - {{key: sk-limited, consumer: limited}}
            - {{key: sk-broke, consumer: broke}}
    ai: {{}}
  - name: ai
    match: {{prefix: /v1/}}
    ai: {{}}
  - name: fixed-endpoint
    match: {{path: /apis/ask}}
    ai: {{endpoint: chat, models: [gpt-4o]}}
"""


class Gateway:
    def __init__(self, port, admin, recorder):
        self.port = port
        self.admin = admin
        self.recorder = recorder
        self.base = "http://127.0.0.1:%d" % port

    def url(self, path=""):
        return self.base + path


@pytest.fixture(scope="session")
def gw():
    if not os.path.exists(GW):
        pytest.fail("gw binary not found at %s: run `swift build` first" % GW)
    server, recorder = stub_providers.start()
    stub = server.server_address[1]
    port, admin = free_port(), free_port()
    tmp = tempfile.mkdtemp(prefix="gw-ai-")
    keyfile = os.path.join(tmp, "anthropic.key")
    with open(keyfile, "w") as f:
        f.write(stub_providers.KEYS["anthropic"] + "\n")
    config = os.path.join(tmp, "gw.yaml")
    with open(config, "w") as f:
        f.write(CONFIG.format(port=port, admin=admin, stub=stub, keyfile=keyfile, gwkey=GW_KEY))
    env = dict(os.environ, STUB_OPENAI_KEY=stub_providers.KEYS["openai"], STUB_GEMINI_KEY=stub_providers.KEYS["gemini"],
               STUB_AZURE_KEY=stub_providers.KEYS["azure"])
    log = open(os.path.join(tmp, "gw.log"), "w")
    proc = subprocess.Popen([GW, "run", "--config", config, "--event-loops", "2"], env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 20
    while True:
        try:
            urllib.request.urlopen("http://127.0.0.1:%d/ready" % admin, timeout=1)
            break
        except Exception:
            if proc.poll() is not None or time.time() > deadline:
                log.close()
                pytest.fail("gw did not start: " + open(os.path.join(tmp, "gw.log")).read())
            time.sleep(0.1)
    yield Gateway(port, admin, recorder)
    proc.terminate()
    proc.wait(timeout=10)
    server.shutdown()
