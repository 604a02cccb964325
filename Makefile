# cairn: one non-recursive Makefile (see STYLE.md).
#
#   make              build everything into build/
#   make test         run the whole test suite; ends with "N passed, N failed"
#   make test SAN=1   the same under AddressSanitizer + UBSan (into build/san)
#   make test T=wire  only cases whose binary or name contains "wire"
#   make fuzz         build the libFuzzer targets (clang); FUZZ_TIME=60 make fuzz-run
#   make sim SEEDS=N  run N simulator seeds; make sim SEED=S replays one
#                     (SM=meta: replicate the real metadata state machine)
#   make chaos SEED=S DURATION=SECONDS   one long fault-injection run (docs/nemesis.md)
#   make bench        benchmarks (speed is measured here, never asserted in tests)
#   make lint         clang-format check and banned-call check
#   make CC=clang BUILD=build/clang   the same tree built by clang
#
# Modules are the folders under src/; each becomes a static library. Every
# tests/unit/test_*.c is one test binary; every other folder under tests/
# with C files (except lib and fuzz) is one binary named after the folder.

CC ?= gcc
ifeq ($(origin CC),default)
CC := gcc
endif
CLANG ?= clang
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
SAN ?= 0

ifeq ($(SAN),1)
BUILD ?= build/san
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
OPT := -O1
TIMEOUT_SCALE ?= 4
else
BUILD ?= build
SANFLAGS :=
OPT := -O2
TIMEOUT_SCALE ?= 1
endif

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
        -Wno-unused-parameter
CPPFLAGS := -Iinclude -Isrc -Itests/lib -D_GNU_SOURCE -DCAIRN_BUILD_DIR='"$(BUILD)"'
CFLAGS := -std=c11 $(OPT) -g $(WARN) $(SANFLAGS) -MMD -MP
LDFLAGS := $(SANFLAGS)
LDLIBS := -luv -lisal -lcrypto -lfuse3 -lpthread -lm

# Libraries in dependency order, highest first (for the static linker).
MODULE_ORDER := cli fuse client chunkd chunk metad meta raftio rpc raft wire common
MODULES := $(filter $(MODULE_ORDER),$(notdir $(patsubst %/,%,$(wildcard src/*/))))
MODULES := $(filter $(MODULES),$(MODULE_ORDER))
MODULE_LIBS := $(foreach m,$(MODULES),$(BUILD)/lib/lib$(m).a)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

define module_rule
$(BUILD)/lib/lib$(1).a: $(call obj,$(wildcard src/$(1)/*.c))
	@mkdir -p $$(dir $$@)
	@rm -f $$@
	ar rcs $$@ $$^
endef
$(foreach m,$(MODULES),$(eval $(call module_rule,$(m))))

TESTLIB := $(BUILD)/lib/libtestlib.a
$(TESTLIB): $(call obj,$(wildcard tests/lib/*.c))
	@mkdir -p $(dir $@)
	@rm -f $@
	ar rcs $@ $^

ALL_LIBS := $(TESTLIB) $(MODULE_LIBS)
LINK = $(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) -Wl,--start-group $(ALL_LIBS) -Wl,--end-group $(LDLIBS)

# The cairn binary (arrives with the CLI); built when src/cli exists.
CAIRN_BIN := $(if $(wildcard src/cli/*.c),$(BUILD)/cairn,)
CLI_MAIN := $(wildcard src/cli/main.c)
$(BUILD)/cairn: $(call obj,$(CLI_MAIN)) $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(LINK)

# Unit tests: one binary per file.
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(UNIT_SRCS))
$(BUILD)/tests/unit/%: $(BUILD)/obj/tests/unit/%.o $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(LINK)

# Folder tests: tests/raft -> build/tests/raft, tests/sim -> build/tests/sim, ...
TEST_DIRS := $(filter-out unit lib fuzz,$(notdir $(patsubst %/,%,$(wildcard tests/*/))))
TEST_DIRS := $(foreach d,$(TEST_DIRS),$(if $(wildcard tests/$(d)/*.c),$(d),))
DIR_BINS := $(foreach d,$(TEST_DIRS),$(BUILD)/tests/$(d))
define dir_rule
$(BUILD)/tests/$(1): $(call obj,$(wildcard tests/$(1)/*.c)) $(ALL_LIBS)
	@mkdir -p $$(dir $$@)
	$$(LINK)
endef
$(foreach d,$(TEST_DIRS),$(eval $(call dir_rule,$(d))))

RUNNER := $(BUILD)/tests/runner
$(RUNNER): tests/runner.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O2 -Wall -Wextra -Werror $(if $(findstring clang,$(CC)),,-Wno-format-truncation) -o $@ $<

# Benchmarks: one binary per file.
BENCH_SRCS := $(wildcard bench/bench_*.c)
BENCH_BINS := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRCS))
$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(LINK)

DEPS_STAMP := build/.deps-ok
$(DEPS_STAMP): scripts/deps.sh
	@mkdir -p build
	@sh scripts/deps.sh
	@touch $@

$(BUILD)/obj/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# --- fuzz targets (clang + libFuzzer; built from sources, not the libs) ---
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(FUZZ_SRCS))
FUZZ_LIB_SRCS := $(wildcard src/common/*.c src/wire/*.c src/raft/*.c src/meta/*.c src/chunk/format.c)
FUZZ_CFLAGS := -std=c11 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
               -Iinclude -Isrc -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter
FUZZ_TIME ?= 60
HAVE_CLANG := $(shell command -v $(CLANG) >/dev/null 2>&1 && echo 1)
build/fuzz/%: tests/fuzz/%.c $(FUZZ_LIB_SRCS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_LIB_SRCS) -lisal -lcrypto -lm
# In make test each fuzz target runs briefly (seconds); make fuzz-run runs longer.
FUZZ_ENTRIES := $(if $(and $(HAVE_CLANG),$(filter 0,$(SAN))),$(foreach f,$(FUZZ_BINS),fuzz:$(f):5:tests/fuzz/corpus/$(notdir $(f))),)
FUZZ_DEPS := $(if $(and $(HAVE_CLANG),$(filter 0,$(SAN))),$(FUZZ_BINS),)

.PHONY: all test fuzz fuzz-run sim chaos bench lint format clean demo deps
.DEFAULT_GOAL := all
all: $(CAIRN_BIN) $(UNIT_BINS) $(DIR_BINS) $(RUNNER) $(BENCH_BINS)

deps: $(DEPS_STAMP)

test: all $(FUZZ_DEPS)
	@rm -rf $(BUILD)/test-logs
	@CAIRN_TIMEOUT_SCALE=$(TIMEOUT_SCALE) $(RUNNER) -j $(JOBS) -l $(BUILD)/test-logs $(UNIT_BINS) $(DIR_BINS) $(FUZZ_ENTRIES)

fuzz: $(FUZZ_BINS)

fuzz-run: $(FUZZ_BINS)
	@for f in $(FUZZ_BINS); do n=$$(basename $$f); mkdir -p build/fuzz/corpus-$$n; \
	  echo "fuzz $$n for $(FUZZ_TIME)s"; \
	  $$f -max_total_time=$(FUZZ_TIME) -print_final_stats=1 build/fuzz/corpus-$$n tests/fuzz/corpus/$$n || exit 1; done

SEEDS ?= 10000
sim: $(BUILD)/tests/sim
ifdef SEED
	$(BUILD)/tests/sim --seed $(SEED) --verbose $(if $(SM),--sm $(SM))
else
	$(BUILD)/tests/sim --seeds $(SEEDS) $(if $(SM),--sm $(SM))
endif

# Fault injection (tests/nemesis, docs/nemesis.md): one long run mixing every
# fault and workload (or FAULTS=a,b WORKLOADS=c,d); a failure prints the seed
# and keeps the run directory.
DURATION ?= 300
chaos: $(BUILD)/tests/nemesis $(CAIRN_BIN)
	@$(BUILD)/tests/nemesis --chaos $(if $(SEED),--seed $(SEED),) --duration $(DURATION) \
	  $(if $(FAULTS),--faults $(FAULTS),) $(if $(WORKLOADS),--workloads $(WORKLOADS),)

bench: all
	@for b in $(BENCH_BINS); do echo "== $$b"; $$b || exit 1; done

# cairn against etcd and MooseFS in one run (docs/compare.md): installs the
# Debian packages it needs when missing (bench/compare/deps.sh), then runs
# bench/compare/run.sh; COMPARE_SECONDS per rate row, COMPARE_FILES per FUSE run.
.PHONY: bench-compare
bench-compare: $(CAIRN_BIN) $(BENCH_BINS)
	@sh bench/compare/deps.sh
	@BUILD=$(BUILD) FILES=$(or $(COMPARE_FILES),10000) bash bench/compare/run.sh all $(or $(COMPARE_SECONDS),5)

LINT_FILES := $(shell find include src tests bench -name '*.[ch]' 2>/dev/null)
lint:
	@clang-format --dry-run -Werror $(LINT_FILES)
	@sh scripts/lint.sh
	@echo "lint: ok"

format:
	@clang-format -i $(LINT_FILES)

# The tour: installs missing packages (deps), builds the cairn binary, runs a
# local cluster through failures (scripts/demo.sh); exits non-zero on failure.
demo: $(DEPS_STAMP) $(BUILD)/cairn
	@bash scripts/demo.sh $(BUILD)/cairn

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
