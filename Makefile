# orderq — `make help` lists the targets.
MODULES := shared api-gateway worker loadtest orderqctl e2e
# The credentials deploy/run-local.sh (make run) generates once, which make
# loadtest reads too; git-ignored.
LOCAL_ENV := .orderq/local.env
export TEST_AMQP_URL ?= amqp://guest:guest@127.0.0.1:5672/
export TEST_MYSQL_DSN ?= root:@tcp(127.0.0.1:3306)/?parseTime=true&charset=utf8mb4
GO_TEST_FLAGS ?= -race -count=1 -timeout 15m
# A binary built in a git checkout records its commit (reports and build info
# show it), whatever GOFLAGS says; outside one it records none.
GO_BUILD_FLAGS ?= -buildvcs=auto
FUZZTIME ?= 10s
# Flags of make soak for bin/loadtest soak, e.g. SOAK_FLAGS='--sales 3'.
SOAK_FLAGS ?=

.PHONY: help build run test fuzz lint bench loadtest soak up down tidy

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

build: ## build bin/api-gateway, bin/worker, bin/loadtest and bin/orderqctl
	cd api-gateway && go build $(GO_BUILD_FLAGS) -o ../bin/api-gateway ./cmd/api-gateway
	cd worker && go build $(GO_BUILD_FLAGS) -o ../bin/worker ./cmd/worker
	cd loadtest && go build $(GO_BUILD_FLAGS) -o ../bin/loadtest ./cmd/loadtest
	cd orderqctl && go build $(GO_BUILD_FLAGS) -o ../bin/orderqctl ./cmd/orderqctl

run: build ## make sure RabbitMQ and MySQL are up, then run gateway + worker in the foreground, with local credentials
	deploy/run-local.sh

test: build ## run every module's tests against the real RabbitMQ and MariaDB/MySQL
	@for m in $(MODULES); do (cd $$m && ORDERQ_BIN=$(CURDIR)/bin go test $(GO_TEST_FLAGS) ./...) || exit 1; done

fuzz: ## run each fuzz target for FUZZTIME, default 10s
	cd shared && go test -run '^$$' -fuzz '^FuzzDecodeCommands$$' -fuzztime $(FUZZTIME) ./message
	cd shared && go test -run '^$$' -fuzz '^FuzzDecide$$' -fuzztime $(FUZZTIME) ./order
	cd api-gateway && go test -run '^$$' -fuzz '^FuzzCreateOrder$$' -fuzztime $(FUZZTIME) ./internal/httpapi
	cd api-gateway && go test -run '^$$' -fuzz '^FuzzUnmarshal$$' -fuzztime $(FUZZTIME) ./internal/httpapi
	cd api-gateway && go test -run '^$$' -fuzz '^FuzzUniqueKeys$$' -fuzztime $(FUZZTIME) ./internal/httpapi

lint: ## gofmt and go vet every module
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	@for m in $(MODULES); do (cd $$m && go vet ./...) || exit 1; done

bench: ## Go benchmarks of the worker's batch apply and the gateway's publish path
	cd worker && go test -run '^$$' -bench . -benchmem ./...
	cd api-gateway && go test -run '^$$' -bench . -benchmem ./...

# The file's lines keep a variable the environment sets (deploy/run-local.sh).
loadtest: build ## a short, standard flash-sale run against a running `make run`, with its credentials
	set -a; if [ -f $(LOCAL_ENV) ]; then . ./$(LOCAL_ENV); fi; set +a; \
	bin/loadtest flashsale --stock 1000 --orders 20000 --concurrency 200

# Ten sales of 30 s and their checks: give it a quiet machine, and the stack a
# fresh database, so that the store it measures is its own.
soak: build ## flash sales back to back on one database (10 × 30s at 10,000/s; SOAK_FLAGS adds flags) against a running `make run`: a row a sale, with the store's rows and bytes
	set -a; if [ -f $(LOCAL_ENV) ]; then . ./$(LOCAL_ENV); fi; set +a; \
	bin/loadtest soak $(SOAK_FLAGS)

up: ## start the whole stack in containers
	docker compose up --build -d

down: ## stop the containers
	docker compose down

tidy: ## go mod tidy in every module
	@for m in $(MODULES); do (cd $$m && go mod tidy) || exit 1; done
