"""Local stub model providers speaking each provider's real wire format.

One threaded HTTP/1.1 server (keep-alive, like the real APIs) answers:
  POST /v1/chat/completions, /v1/embeddings   OpenAI format (also Azure/Mistral-style clients)
  POST /v1/messages                           Anthropic Messages format
  POST /v1beta/models/{m}:generateContent     Gemini format (and :streamGenerateContent?alt=sse)
The upstream *model name* chooses the behaviour, so a gw config can point aliases at
deployments that succeed, fail, rate-limit, cut a stream short or call a tool.
Every request is recorded (path, headers, JSON body) for the tests to inspect.
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

KEYS = {"openai": "sk-openai-stub", "anthropic": "sk-ant-stub", "gemini": "gm-stub", "azure": "az-stub"}


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []

    def add(self, entry):
        with self.lock:
            self.requests.append(entry)

    def count(self, model):
        with self.lock:
            return sum(1 for r in self.requests if r["model"] == model)

    def last(self, model):
        with self.lock:
            for r in reversed(self.requests):
                if r["model"] == model:
                    return r
        return None

    def clear(self):
        with self.lock:
            self.requests.clear()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    recorder = None  # set by start()

    def log_message(self, *args):
        pass

    # -- plumbing ---------------------------------------------------------
    def send_json(self, status, obj, headers=None):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def start_sse(self):
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()

    def chunk(self, text):
        data = text.encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def end_sse(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def cut(self):
        """Drop the connection in the middle of the stream."""
        self.wfile.flush()
        self.close_connection = True
        self.connection.shutdown(2)

    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except ValueError:
            return self.send_json(400, {"error": {"message": "stub: invalid JSON"}})
        path = self.path
        if path.startswith("/v1beta/models/"):
            model = path[len("/v1beta/models/"):].split(":")[0]
        elif path.startswith("/openai/deployments/"):
            model = path.split("/")[3]
        else:
            model = body.get("model", "")
        self.recorder.add({"path": path, "headers": dict(self.headers.items()), "body": body, "model": model})
        if path == "/v1/chat/completions":
            return self.openai_chat(model, body)
        if path.startswith("/openai/deployments/%s/chat/completions?api-version=" % model):
            if self.headers.get("api-key") != KEYS["azure"]:
                return self.send_json(401, {"error": {"code": "401", "message": "Access denied due to invalid subscription key."}})
            return self.openai_chat(model, body, azure=True)
        if path == "/v1/embeddings":
            return self.openai_embeddings(model, body)
        if path == "/v1/messages":
            return self.anthropic(model, body)
        if path.startswith("/v1beta/models/"):
            return self.gemini(model, body, stream=":streamGenerateContent" in path)
        self.send_json(404, {"error": {"message": "stub: no such path " + path}})

    # -- OpenAI -----------------------------------------------------------
    def openai_chat(self, model, body, azure=False):
        if not azure and self.headers.get("authorization") != "Bearer " + KEYS["openai"]:
            return self.send_json(401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}})
        if model == "gpt-500":
            return self.send_json(500, {"error": {"message": "stub internal error", "type": "server_error"}})
        if model == "gpt-429":
            return self.send_json(429, {"error": {"message": "Rate limit reached", "type": "requests"}}, {"retry-after": "30"})
        if model == "gpt-400":
            return self.send_json(400, {"error": {"message": "stub: messages too long", "type": "invalid_request_error"}})
        if model == "gpt-garbage":
            data = b"<html>not json"
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            return self.wfile.write(data)
        if model == "gpt-slow":
            time.sleep(0.5)
        usage = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18,
                 "prompt_tokens_details": {"cached_tokens": 3}, "completion_tokens_details": {"reasoning_tokens": 2}}
        tool = model == "gpt-tool"
        base = {"id": "chatcmpl-stub", "created": 1700000000, "model": model}
        if not body.get("stream"):
            message = {"role": "assistant", "content": "Hello from the OpenAI stub."}
            finish = "stop"
            if tool:
                message = {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "call_abc", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]}
                finish = "tool_calls"
            return self.send_json(200, dict(base, object="chat.completion", usage=usage,
                                            choices=[{"index": 0, "message": message, "finish_reason": finish}]))
        self.start_sse()

        def send(delta, finish=None):
            c = dict(base, object="chat.completion.chunk", choices=[{"index": 0, "delta": delta, "finish_reason": finish}])
            self.chunk("data: " + json.dumps(c) + "\n\n")

        send({"role": "assistant", "content": ""})
        if tool:
            send({"tool_calls": [{"index": 0, "id": "call_abc", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]})
            for piece in ["{\"ci", "ty\": \"Par", "is\"}"]:
                send({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
            send({}, "tool_calls")
        else:
            for piece in ["Hello", " from", " the", " OpenAI", " stub."]:
                send({"content": piece})
                if model == "gpt-cut" and piece == " from":
                    return self.cut()
            send({}, "stop")
        if (body.get("stream_options") or {}).get("include_usage"):
            self.chunk("data: " + json.dumps(dict(base, object="chat.completion.chunk", choices=[], usage=usage)) + "\n\n")
        self.chunk("data: [DONE]\n\n")
        self.end_sse()

    def openai_embeddings(self, model, body):
        if self.headers.get("authorization") != "Bearer " + KEYS["openai"]:
            return self.send_json(401, {"error": {"message": "Incorrect API key provided"}})
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [{"object": "embedding", "index": i, "embedding": [0.25, -0.5, float(i)]} for i in range(len(inputs))]
        self.send_json(200, {"object": "list", "data": data, "model": model,
                             "usage": {"prompt_tokens": 5 * len(inputs), "total_tokens": 5 * len(inputs)}})

    # -- Anthropic --------------------------------------------------------
    def anthropic(self, model, body):
        if self.headers.get("x-api-key") != KEYS["anthropic"] or not self.headers.get("anthropic-version"):
            return self.send_json(401, {"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}})
        if "max_tokens" not in body:
            return self.send_json(400, {"type": "error", "error": {"type": "invalid_request_error", "message": "max_tokens: Field required"}})
        if model == "claude-overloaded":
            return self.send_json(529, {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
        tool = model == "claude-tool"
        usage = {"input_tokens": 20, "output_tokens": 9, "cache_read_input_tokens": 5, "cache_creation_input_tokens": 2}
        if not body.get("stream"):
            content = [{"type": "text", "text": "Hello from the Anthropic stub."}]
            stop = "end_turn"
            if tool:
                content = [{"type": "text", "text": "Let me check."},
                           {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}}]
                stop = "tool_use"
            return self.send_json(200, {"id": "msg_stub", "type": "message", "role": "assistant", "model": model,
                                        "content": content, "stop_reason": stop, "stop_sequence": None, "usage": usage})
        self.start_sse()

        def ev(name, obj):
            self.chunk("event: %s\ndata: %s\n\n" % (name, json.dumps(obj)))

        ev("message_start", {"type": "message_start", "message": {
            "id": "msg_stub", "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": 20, "output_tokens": 1, "cache_read_input_tokens": 5, "cache_creation_input_tokens": 2}}})
        ev("ping", {"type": "ping"})
        ev("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
        for piece in ["Hello", " from the", " Anthropic stub."]:
            ev("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}})
        ev("content_block_stop", {"type": "content_block_stop", "index": 0})
        stop = "end_turn"
        if tool:
            ev("content_block_start", {"type": "content_block_start", "index": 1,
                                       "content_block": {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {}}})
            for piece in ["{\"city\"", ": \"Pa", "ris\"}"]:
                ev("content_block_delta", {"type": "content_block_delta", "index": 1,
                                           "delta": {"type": "input_json_delta", "partial_json": piece}})
            ev("content_block_stop", {"type": "content_block_stop", "index": 1})
            stop = "tool_use"
        ev("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                             "usage": {"output_tokens": 9}})
        ev("message_stop", {"type": "message_stop"})
        self.end_sse()

    # -- Gemini -----------------------------------------------------------
    def gemini(self, model, body, stream):
        if self.headers.get("x-goog-api-key") != KEYS["gemini"]:
            return self.send_json(403, {"error": {"code": 403, "message": "API key not valid", "status": "PERMISSION_DENIED"}})
        usage = {"promptTokenCount": 14, "candidatesTokenCount": 6, "totalTokenCount": 24, "thoughtsTokenCount": 4}
        if model == "gemini-tool":
            parts = [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]
        else:
            parts = [{"text": "Hello from the Gemini stub."}]
        if not stream:
            return self.send_json(200, {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP"}],
                                        "usageMetadata": usage, "modelVersion": model})
        self.start_sse()
        if model == "gemini-tool":
            pieces = [parts]
        else:
            pieces = [[{"text": "Hello from"}], [{"text": " the Gemini stub."}]]
        for i, p in enumerate(pieces):
            chunk = {"candidates": [{"content": {"role": "model", "parts": p}}], "modelVersion": model}
            if i == len(pieces) - 1:
                chunk["candidates"][0]["finishReason"] = "STOP"
                chunk["usageMetadata"] = usage
            self.chunk("data: " + json.dumps(chunk) + "\r\n\r\n")
        self.end_sse()


def start():
    recorder = Recorder()
    handler = type("BoundHandler", (Handler,), {"recorder": recorder})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, recorder
