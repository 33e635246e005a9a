.PHONY: run test check-abi build bench bench-plugins bench-instructions faults
run:
	bash scripts/run.sh
test:
	bash scripts/test.sh
check-abi:
	bash scripts/check-abi.sh
build:
	bash scripts/build-release.sh --pgo
bench-plugins:
	bash bench/plugin-boundary.sh
bench-instructions:
	bash bench/instructions.sh $(ARGS)
bench:
	bash bench/run.sh $(ARGS)
faults:
	bash bench/faults.sh $(ARGS)
