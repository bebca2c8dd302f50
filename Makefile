# The two commands of the README: `make run` and `make test`. Everything else they need is installed here.
.PHONY: run test unit lint typecheck deps
NPM ?= npm

node_modules/.installed: package.json package-lock.json
	$(NPM) ci --no-audit --no-fund
	@touch $@

deps: node_modules/.installed

run: deps
	$(NPM) start -- $(ARGS)

test: deps
	$(NPM) run typecheck
	$(NPM) run lint
	$(NPM) test

unit: deps
	$(NPM) run test:unit

lint: deps
	$(NPM) run lint

typecheck: deps
	$(NPM) run typecheck
