# DotMac Field — one Makefile for every module (see README.md).
SHELL := /bin/bash
.DEFAULT_GOAL := help
GO ?= go
MODULES := sync migrations hub edge-agent
DIST_TARGETS := linux/amd64 linux/arm64 windows/amd64 android/arm64
EDGE_WEB := edge-agent/web/pwa
HUB_VENDOR := hub/web/static/vendor

.PHONY: help run test test-go test-race bench build dist assets pwa hub-assets lint fmt clean services services-down

help:
	@echo "make run     the whole local stack with demo data (hub :8080, edge agent :8081)"
	@echo "make test    every test of every module against real PostgreSQL+PostGIS, Redis, NATS, SQLite, Chromium"
	@echo "make bench   the benchmarks, each figure beside its baseline"
	@echo "make build   bin/hub and bin/edge-agent"
	@echo "make dist    the edge agent for $(DIST_TARGETS) under dist/"

run:
	@scripts/run.sh

test:
	@scripts/test.sh

bench:
	@scripts/bench.sh

# Front-end assets come from npm at build time and are embedded in the binaries (no CDN at run time).
hub-assets:
	@scripts/assets.sh hub

pwa:
	@scripts/assets.sh pwa

assets: hub-assets pwa

build: assets
	$(GO) build -o bin/hub ./hub/cmd/hub
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/edge-agent ./edge-agent/cmd/edge-agent

dist: pwa
	@mkdir -p dist
	@for t in $(DIST_TARGETS); do \
		os=$${t%/*}; arch=$${t#*/}; ext=; [ $$os = windows ] && ext=.exe; \
		echo "==> edge-agent $$os/$$arch"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags="-s -w" \
			-o dist/edge-agent-$$os-$$arch$$ext ./edge-agent/cmd/edge-agent || exit 1; \
	done
	@ls -lh dist/

test-go:
	@scripts/test.sh go

lint:
	$(GO) vet $(addprefix ./,$(addsuffix /...,$(MODULES)))
	@test -z "$$(gofmt -l $(MODULES))" || { gofmt -l $(MODULES); echo "gofmt needed"; exit 1; }

fmt:
	gofmt -w $(MODULES)

services:
	@scripts/services.sh up

services-down:
	@scripts/services.sh down

clean:
	rm -rf bin dist
