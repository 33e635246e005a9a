/// The configuration `gw run` uses when no file is given: no external server,
/// no API key. The demo upstream is gw's own embedded echo service.
enum DefaultConfig {
    static let yaml = """
        version: 1
        listeners:
          - name: main
            address: 127.0.0.1:8080
        admin:
          address: 127.0.0.1:9901
        # gw's embedded echo service: answers with what it received.
        demo_upstream: 127.0.0.1:8081
        upstreams:
          demo:
            targets: [127.0.0.1:8081]
        # The AI gateway with the built-in mock provider: answers without any key.
        ai:
          providers:
            mock: {type: mock}
          models:
            - name: gpt-4o-mini
              deployments: [{provider: mock, model: mock}]
            - name: claude-sonnet-4-5
              deployments: [{provider: mock, model: mock}]
        routes:
          - name: ai
            match:
              prefix: /v1/
            ai: {}
          - name: demo
            match:
              prefix: /demo/
            upstream: demo
            rewrite:
              path: /$1
          - name: welcome
            match:
              path: /
            direct_response:
              status: 200
              content_type: text/plain
              body: |
                gw is running. Try:
                  curl -i http://127.0.0.1:8080/demo/hello
                  curl http://127.0.0.1:8080/v1/chat/completions -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'
                  curl http://127.0.0.1:9901/admin/plugins

        """
}
