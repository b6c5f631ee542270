# Thin wrapper around CMake/CTest.  `make` builds build/autoscaler.
BUILD     ?= build
ASAN_DIR  ?= build-asan
JOBS      ?= $(shell nproc)
PREFIX    ?= /usr/local
DESTDIR   ?=

.PHONY: all deps test-deps test asan run demo fmt fuzz clean install uninstall

all: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAS_TESTS=OFF >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

deps:
	@scripts/bootstrap.sh

test-deps:
	@scripts/bootstrap.sh --test

# The whole suite (unit, replay, integration) under AddressSanitizer + UBSan.
# The release build first: optimised builds warn where the debug one does not (-Werror), and
# `make` is the README's first command.
test: test-deps all
	@cmake -S . -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=Debug -DAS_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_DIR) -j $(JOBS)
	@cd $(ASAN_DIR) && ctest --output-on-failure -j $(JOBS) --timeout 300

asan: test

# Into $(DESTDIR)$(PREFIX): bin/autoscaler, share/man/man1/autoscaler.1,
# share/man/man5/autoscaler.yaml.5, share/doc/autoscaler/ (README, docs, examples, deploy) and
# lib/systemd/system/autoscaler.service. Builds $(BUILD) first when it has no build yet.
install: $(if $(wildcard $(BUILD)/CMakeCache.txt),,all)
	@cmake --build $(BUILD) -j $(JOBS) --target autoscaler man
	@DESTDIR="$(DESTDIR)" cmake --install $(BUILD) --prefix "$(PREFIX)"

# What the last `make install` into $(BUILD) installed (its install_manifest.txt).
uninstall:
	@sed 's|^|$(DESTDIR)|' $(BUILD)/install_manifest.txt | xargs -r -d '\n' rm -f --
	@rm -rf "$(DESTDIR)$(PREFIX)/share/doc/autoscaler"

# The embedded default: a live autoscaling loop with no outside service.
demo run: all
	@$(BUILD)/autoscaler demo

# Coverage-guided fuzzing with libFuzzer (clang): FUZZ_SECONDS per target.
FUZZ_SECONDS ?= 60
fuzz:
	@scripts/fuzz.sh $(FUZZ_SECONDS)

fmt:
	@clang-format -i src/*.c src/*/*.c src/*/*.h tests/unit/*.c

clean:
	rm -rf $(BUILD) $(ASAN_DIR)
