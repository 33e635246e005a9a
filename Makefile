.PHONY: run test check-abi build bench
run:
	bash scripts/run.sh
test:
	bash scripts/test.sh
check-abi:
	bash scripts/check-abi.sh
build:
	swift build -c release
bench:
	bash bench/run.sh $(ARGS)
