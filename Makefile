.PHONY: run test check-abi build bench bench-plugins
run:
	bash scripts/run.sh
test:
	bash scripts/test.sh
check-abi:
	bash scripts/check-abi.sh
build:
	swift build -c release
bench-plugins:
	bash bench/plugin-boundary.sh
bench:
	bash bench/run.sh $(ARGS)
