# Plain make for the benchmark tools: `make -C bench -f bench.mk` (OUT=/some/dir to build elsewhere).
# The autotools build has the same targets as `make bench` (see bench.am).
CC ?= cc
CFLAGS ?= -O2 -g
WARN = -Wall -Wextra -Wshadow -Wpointer-arith -Wstrict-prototypes -Wmissing-prototypes \
       -Wformat=2 -Wvla
OUT ?= .

all: $(OUT)/wsbench $(OUT)/echod

$(OUT)/wsbench: wsbench.c
	@mkdir -p $(OUT)
	$(CC) -std=c11 $(WARN) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ wsbench.c

$(OUT)/echod: echod.c
	@mkdir -p $(OUT)
	$(CC) -std=c11 $(WARN) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ echod.c

clean:
	rm -f $(OUT)/wsbench $(OUT)/echod

.PHONY: all clean
