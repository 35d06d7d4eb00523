# spoke: one non-recursive Makefile. See README.md for the targets and knobs.
#   make [all|test|unit|api-test|demo|bench|fuzz|coverage|fmt|fmt-check|lint|hdr-check|clean]
#   knobs: DEBUG=1 SANITIZE=address,undefined|thread COVERAGE=1 WERROR=1 CC=clang

CC ?= cc
PKGS := jansson libsodium sqlite3
comma := ,
CONFIG := $(if $(SANITIZE),san-$(subst $(comma),-,$(SANITIZE)),$(if $(DEBUG),debug,$(if $(COVERAGE),cov,release)))
BUILD := build/$(CONFIG)

CFLAGS := -std=c17 -g -fno-omit-frame-pointer -Wall -Wextra -Wpedantic -Wshadow \
	-Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wvla -Wimplicit-fallthrough \
	-Isrc -I. -I$(BUILD) $(shell pkg-config --cflags $(PKGS) 2>/dev/null) $(EXTRA_CFLAGS)
LDLIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lhttp_parser -lpthread -lm

ifdef SANITIZE
CFLAGS += -O1 -fsanitize=$(SANITIZE) -fno-sanitize-recover=all -DSPOKE_DEBUG
LDFLAGS += -fsanitize=$(SANITIZE)
else ifdef DEBUG
CFLAGS += -O0 -DSPOKE_DEBUG
else ifdef COVERAGE
CFLAGS += -O0 --coverage -DSPOKE_COVERAGE
LDFLAGS += --coverage
else
CFLAGS += -O2 -D_FORTIFY_SOURCE=2
endif
ifdef WERROR
CFLAGS += -Werror
endif
CFLAGS += -MMD -MP

LIB_SRC := $(sort $(wildcard src/*/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
TEST_SRC := $(sort $(wildcard tests/unit/*.c))
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/%.o)
# bench/: one program per file, each linked with bench/common.c. The Redis and
# PostgreSQL clients need libhiredis-dev and libpq-dev, which only
# `scripts/deps --bench` installs, so only `make bench` builds them.
BENCH_COMMON := bench/common.c
BENCH_EXT_SRC := bench/redis_bench.c bench/pg_bench.c
BENCH_SRC := $(filter-out $(BENCH_COMMON) $(BENCH_EXT_SRC),$(sort $(wildcard bench/*.c)))
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
BENCH_EXT_BIN := $(BENCH_EXT_SRC:bench/%.c=$(BUILD)/bench/%)
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_REPLAY := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)
HEADERS := $(sort $(wildcard src/*/*.h))

SPOKE := $(BUILD)/spoke
UNIT := $(BUILD)/test-unit


.PHONY: all test unit api-test demo bench bench-index bench-plan bench-sessions fuzz coverage fmt fmt-check lint \
	hdr-check check-layers clean deps
all: $(SPOKE)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libspoke.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(SPOKE): $(BUILD)/src/main.o $(BUILD)/libspoke.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The suite registry is generated from the test files present: each
# tests/unit/test_<m>.c defines test_suite_<m>[].
$(BUILD)/tests/unit/list.h: $(TEST_SRC)
	@mkdir -p $(@D)
	@for f in $(filter tests/unit/test_%,$(TEST_SRC)); do \
	  n=$$(basename $$f .c); echo "SUITE($${n#test_})"; done > $@.tmp
	@cmp -s $@.tmp $@ || mv $@.tmp $@; rm -f $@.tmp

$(BUILD)/tests/unit/runner.o: $(BUILD)/tests/unit/list.h

$(UNIT): $(TEST_OBJ) $(BUILD)/libspoke.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/fuzz/%: $(BUILD)/tests/fuzz/%.o $(BUILD)/tests/fuzz/replay.o $(BUILD)/libspoke.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Timing programs (bench/*.c): built by `make test` so they never rot (all
# but the Redis and PostgreSQL clients).
$(BUILD)/bench/%: $(BUILD)/bench/%.o $(BUILD)/bench/common.o $(BUILD)/libspoke.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(BENCH_LIBS)

.SECONDARY: $(patsubst %.c,$(BUILD)/%.o,$(wildcard bench/*.c))
$(BUILD)/bench/redis_bench: BENCH_LIBS = -lhiredis
$(BUILD)/bench/pg_bench: BENCH_LIBS = $(shell pkg-config --libs libpq 2>/dev/null)
$(BUILD)/bench/pg_bench.o: CFLAGS += $(shell pkg-config --cflags libpq 2>/dev/null)

bench-index: $(BUILD)/bench/geo_index_bench
	$<

# The server's planner at city scale (docs/dispatch.md): PLAN_ARGS go to
# bench/plan_bench.c (default: 2M bikes, 28 days of 1M trips, 100 trucks).
bench-plan: $(BUILD)/bench/plan_bench
	$< $(PLAN_ARGS)

# 100,000 idle lock sessions on one server with gateway worker processes
# (bench/sessions.py): time to online, resident memory, CPU. Knobs:
# SESSIONS_ARGS (e.g. --locks 50000 --workers 3 --sims 3 --hold 30).
bench-sessions: $(SPOKE)
	python3 bench/sessions.py --spoke $(SPOKE) $(SESSIONS_ARGS)

# The comparison table (bench/run.py, docs/benchmarks.md): spoke in-process,
# over HTTP and through lock sessions, Redis and PostGIS, on the same fleet.
# Knobs: BENCH_BIKES (default 2000000), BENCH_SECONDS (each timed phase,
# default 10), BENCH_LOCKS (lock sessions, default 18000), BENCH_SERVE_ARGS
# (extra `spoke serve` flags), BENCH_ONLY=spoke,redis,postgis. Writes only
# under $TMPDIR.
BENCH_BIKES ?= 2000000
BENCH_SECONDS ?= 10
bench:
	@scripts/deps --bench
	@$(MAKE) --no-print-directory -j2 $(SPOKE) $(BENCH_BIN) $(BENCH_EXT_BIN)
	@python3 bench/run.py --build $(BUILD) --config $(CONFIG) \
	  --bikes $(BENCH_BIKES) --seconds $(BENCH_SECONDS) \
	  $(if $(BENCH_LOCKS),--locks $(BENCH_LOCKS)) \
	  $(foreach a,$(BENCH_SERVE_ARGS),--serve-arg=$(a)) \
	  $(if $(BENCH_ONLY),--only $(BENCH_ONLY))

deps:
	@scripts/deps --test

# Unit tests, fuzz corpus replay, then the API and integration suites against
# a real server. Everything a test needs (SQLite, ports) it sets up itself.
test: deps $(SPOKE) $(UNIT) $(FUZZ_REPLAY) $(BENCH_BIN)
	$(UNIT)
	tests/fuzz/replay-all $(BUILD)/fuzz
	python3 tests/api/run.py --spoke $(SPOKE)
	python3 tests/integration/run.py --spoke $(SPOKE)
	python3 tests/integration/run.py --spoke $(SPOKE) --gateway-workers 2 \
		test_lock test_ride test_crash test_concurrency test_secure

unit: $(UNIT)
	$(UNIT) $(T)

api-test: $(SPOKE)
	python3 tests/api/run.py --spoke $(SPOKE) $(T)

demo:
	@scripts/deps
	@$(MAKE) --no-print-directory -j2 $(SPOKE)
	$(SPOKE) demo

# libFuzzer targets (clang). Each runs for FUZZ_SECONDS.
FUZZ_SECONDS ?= 60
fuzz:
	@for f in $(FUZZ_SRC); do n=$$(basename $$f .c); c=$${n#fuzz_}; \
	  mkdir -p build/fuzz-corpus/$$c; \
	  clang -std=c17 -g -O1 -Isrc -I. -I$(BUILD) $(shell pkg-config --cflags $(PKGS)) \
	    -fsanitize=fuzzer,address,undefined $$f $(LIB_SRC) -o build/$$n $(LDLIBS) && \
	  build/$$n -max_total_time=$(FUZZ_SECONDS) build/fuzz-corpus/$$c tests/fuzz/corpus/$$c || exit 1; \
	done

# Line and branch coverage of the unit tests, per module.
coverage:
	@find build/cov -name '*.gcda' -delete 2>/dev/null || true
	$(MAKE) COVERAGE=1 build/cov/test-unit
	build/cov/test-unit > /dev/null
	@tools/coverage-summary build/cov

fmt:
	clang-format -i $(LIB_SRC) $(HEADERS) src/main.c $(TEST_SRC) $(FUZZ_SRC)

fmt-check:
	clang-format --dry-run -Werror $(LIB_SRC) $(HEADERS) src/main.c $(TEST_SRC) $(FUZZ_SRC)

lint: check-layers
	@! grep -nE '\b(sprintf|strcpy|strcat|strncpy|strtok|atoi|atol|atof|gets|alloca)\s*\(' \
		$(LIB_SRC) $(HEADERS) src/main.c || (echo "lint: banned call" && false)
	@! grep -nE '(^|[^x_a-z])(malloc|calloc|realloc|free)\s*\(' \
		$(filter-out src/base/%,$(LIB_SRC) $(HEADERS)) src/main.c || \
		(echo "lint: use xmalloc/xfree outside src/base" && false)
	@echo "lint: ok"

check-layers:
	@tools/check-layers

hdr-check:
	@for h in $(HEADERS); do \
	  printf '#include "%s"\n' $$h | sed 's|src/||' | \
	  $(CC) $(CFLAGS) -Werror -x c -c - -o /dev/null || exit 1; done; echo "hdr-check: ok"

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(BUILD)/src/main.d \
	$(patsubst %.c,$(BUILD)/%.d,$(wildcard bench/*.c))

# ---- bench-brp: the BRP benchmark table (bench/brp.py, docs/brp.md) --------
# Solves the Dell'Amico et al. (2014) instances one at a time with `spoke plan`
# at a fixed seed and prints one row each plus the gap summary. Knobs:
# BRP_SECONDS (per instance, default 10), BRP_IDS (default 1-65; e.g. 1-37 or
# 1,5,9), BRP_SEED (1), BRP_CLOCK (wall, or cpu on a shared machine),
# BRP_DATA (default SPOKE_DATA or ../shared/data, then
# /brp-dellamico2014). Without the data it prints a note, exit 0.
BRP_SECONDS ?= 10
BRP_IDS ?= 1-65
BRP_SEED ?= 1
BRP_CLOCK ?= wall
BRP_DATA ?= $(or $(SPOKE_DATA),../shared/data)/brp-dellamico2014
.PHONY: bench-brp
bench-brp: $(SPOKE)
	@python3 bench/brp.py --spoke $(SPOKE) --data $(BRP_DATA) \
	  --seconds $(BRP_SECONDS) --ids $(BRP_IDS) --seed $(BRP_SEED) \
	  --clock $(BRP_CLOCK)
