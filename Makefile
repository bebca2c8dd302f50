# The two commands of the README: `make run` and `make test`. Everything else they need is installed here.
.PHONY: run test unit lint typecheck deps manifests install uninstall deploy undeploy docker-build helm-template
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

# Operator targets, as kubebuilder projects name them. They act on the cluster of your current kubectl context.
KUBECTL ?= kubectl
IMG ?= ghcr.io/example/datum-provider-ts:latest
NAMESPACE ?= datum-provider-system

manifests: deps ## Print the CRDs and RBAC this version needs (diff them at upgrade time)
	@node_modules/.bin/node src/cli/main.ts manifests

install: deps ## Install our CRDs (ProviderConfig) into the cluster
	node_modules/.bin/node src/cli/main.ts manifests --crds | $(KUBECTL) apply --server-side -f -

uninstall: deps ## Remove our CRDs (and with them every ProviderConfig)
	node_modules/.bin/node src/cli/main.ts manifests --crds | $(KUBECTL) delete --ignore-not-found -f -

deploy: ## Deploy the provider with the kustomize base (namespace, CRD, RBAC, settings, Deployment)
	$(KUBECTL) apply -k deploy/kustomize/base

undeploy: ## Remove what `deploy` created
	$(KUBECTL) delete --ignore-not-found -k deploy/kustomize/base

helm-template: ## Render the Helm chart with its defaults (helm install datum-provider deploy/helm/datum-provider ...)
	helm template datum-provider deploy/helm/datum-provider --namespace $(NAMESPACE) --include-crds

docker-build: ## Build the provider image (needs a container engine)
	docker build -t $(IMG) .
