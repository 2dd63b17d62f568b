# minetd: plain GNU make, no recursion. See README.md.
# The version lives in one place: debian/changelog.
VERSION := $(shell head -n1 debian/changelog | cut -d'(' -f2 | cut -d')' -f1)

PREFIX ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
LIBEXECDIR ?= $(PREFIX)/libexec
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
SYSCONFDIR ?= /etc
DESTDIR ?=

BUILD ?= build
CFLAGS ?= -O2 -g
PKG_CONFIG ?= pkg-config
# Where systemd reads units: systemd.pc's systemdsystemunitdir. With the PREFIX
# of systemd itself (/usr) that is the system's own directory (/lib/systemd/system
# on Debian 12); with another PREFIX the same path under it
# (/usr/local/lib/systemd/system, which systemd reads too). No systemd.pc:
# $(PREFIX)/lib/systemd/system. Evaluated when used, after the dependencies
# are installed.
SYSTEMD_PREFIX = $(shell $(PKG_CONFIG) --variable=prefix systemd 2>/dev/null)
SYSTEMDUNITDIR ?= $(or $(shell $(PKG_CONFIG) $(if $(filter $(PREFIX),$(SYSTEMD_PREFIX)),, \
	--define-variable=prefix=$(PREFIX) --define-variable=rootprefix=$(PREFIX)) \
	--variable=systemdsystemunitdir systemd 2>/dev/null),$(PREFIX)/lib/systemd/system)
PKGS := libsystemd libconfig
WARNINGS := -Wall -Wextra -Wshadow -Wformat=2
ifneq ($(CI)$(WERROR),)
WARNINGS += -Werror
endif
# Evaluated when used, after the dependencies are installed.
PKG_CFLAGS = $(shell $(PKG_CONFIG) --cflags $(PKGS))
PKG_LIBS = $(shell $(PKG_CONFIG) --libs $(PKGS))
MINETD_CPPFLAGS := -D_GNU_SOURCE -DMINETD_VERSION='"$(VERSION)"' \
	-DMINETD_CONFIG_PATH='"$(SYSCONFDIR)/minetd/minetd.conf"' \
	-DMINETD_QUOTES_PATH='"$(DATADIR)/minetd/quotes"' \
	-DMINETD_HELPER_PATH='"$(LIBEXECDIR)/minetd/minetd-helper"'
ALL_CFLAGS = $(MINETD_CPPFLAGS) $(CPPFLAGS) $(WARNINGS) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP

SOURCES := $(wildcard daemon/*.c)
OBJECTS := $(SOURCES:daemon/%.c=$(BUILD)/obj/%.o)
# The privileged helper's own files; everything else is minetd's.
HELPER_ONLY := $(BUILD)/obj/helper.o $(BUILD)/obj/helper_main.o $(BUILD)/obj/cgroup.o
# Everything but the programs' main()s: what the unit tests and fuzzers link against.
LIB_OBJECTS := $(filter-out $(BUILD)/obj/main.o $(BUILD)/obj/helper_main.o,$(OBJECTS))
MINETD_OBJECTS := $(filter-out $(HELPER_ONLY),$(OBJECTS))
# What the helper links: the config reader and what it needs, sockets, spawning, the log.
HELPER_OBJECTS := $(HELPER_ONLY) $(addprefix $(BUILD)/obj/,acl.o config.o config_guard.o exec_options.o handlers.o \
	inetd.o keys.o listen.o log.o loop.o privsep.o proto.o reload.o spawn.o units.o)
UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_*.c))

.PHONY: all deps run check unit install deb bench fuzz tsan clean
all: $(BUILD)/minetd $(BUILD)/minetd-helper

# Installs missing Debian packages (as root) or says which; cheap when all are there.
deps:
	@tools/deps.sh build

$(BUILD)/.deps-build:
	@tools/deps.sh build
	@mkdir -p $(@D) && touch $@

$(BUILD)/obj/%.o: daemon/%.c | $(BUILD)/.deps-build
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/minetd: $(MINETD_OBJECTS)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/minetd-helper: $(HELPER_OBJECTS)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJECTS) | $(BUILD)/.deps-check
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Idaemon $(LDFLAGS) -o $@ $< $(LIB_OBJECTS) $(PKG_LIBS) -lcmocka

$(BUILD)/.deps-check:
	@tools/deps.sh build check
	@mkdir -p $(@D) && touch $@

run: deps $(BUILD)/minetd $(BUILD)/minetd-helper
	$(BUILD)/minetd -c config/minetd.conf -l stderr

unit: $(UNIT_TESTS)

check: $(BUILD)/.deps-check $(BUILD)/minetd $(BUILD)/minetd-helper $(UNIT_TESTS)
	@BUILD=$(BUILD) tests/run.sh

install: $(BUILD)/minetd $(BUILD)/minetd-helper
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(LIBEXECDIR)/minetd $(DESTDIR)$(SYSCONFDIR)/minetd \
		$(DESTDIR)$(DATADIR)/minetd \
		$(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5
	install -m 755 $(BUILD)/minetd $(DESTDIR)$(SBINDIR)/minetd
	install -m 755 $(BUILD)/minetd-helper $(DESTDIR)$(LIBEXECDIR)/minetd/minetd-helper
	install -m 644 config/minetd.conf $(DESTDIR)$(SYSCONFDIR)/minetd/minetd.conf
	install -m 644 config/quotes $(DESTDIR)$(DATADIR)/minetd/quotes
	for unit in systemd/*.socket systemd/*.service; do \
		sed 's|/usr/sbin/minetd|$(SBINDIR)/minetd|g; s|/usr/libexec/minetd/|$(LIBEXECDIR)/minetd/|g; s|/etc/minetd/|$(SYSCONFDIR)/minetd/|g' $$unit \
			>$(DESTDIR)$(SYSTEMDUNITDIR)/$${unit#systemd/} && \
		chmod 644 $(DESTDIR)$(SYSTEMDUNITDIR)/$${unit#systemd/} || exit 1; \
	done
	install -m 644 man/minetd.8 $(DESTDIR)$(MANDIR)/man8/minetd.8
	install -m 644 man/minetd.conf.5 $(DESTDIR)$(MANDIR)/man5/minetd.conf.5

deb:
	@tools/deps.sh build deb
	tools/build-deb.sh

bench: $(BUILD)/minetd $(BUILD)/minetd-helper
	@tools/deps.sh bench
	MINETD=$(abspath $(BUILD)/minetd) TOP=$(CURDIR) OUT=$(abspath $(BUILD))/bench \
		CC="$(CC)" CFLAGS="$(CFLAGS)" LDFLAGS="$(LDFLAGS)" tests/bench/run.sh

# libFuzzer, FUZZ_SECONDS per harness (make check runs a short round of each).
fuzz:
	@tools/deps.sh build check
	BUILD=$(BUILD) tests/fuzz/run.sh $${FUZZ_SECONDS:-300}

# ThreadSanitizer over the integration tests and the soak, two event loops each.
tsan:
	@tools/deps.sh build check
	BUILD=$(BUILD) tests/sanitize/tsan.sh

clean:
	rm -rf $(BUILD)

-include $(OBJECTS:.o=.d) $(UNIT_TESTS:=.d)
