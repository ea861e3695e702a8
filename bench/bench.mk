# Plain make for the benchmark tools: `make -C bench -f bench.mk` (OUT=/some/dir to build elsewhere).
# The autotools build has the same targets as `make bench` (see bench.am).
CC ?= cc
CFLAGS ?= -O2 -g
PKG_CONFIG ?= pkg-config
WARN = -Wall -Wextra -Wshadow -Wpointer-arith -Wstrict-prototypes -Wmissing-prototypes \
       -Wformat=2 -Wvla
# wsbench --tls: OpenSSL (libssl, libcrypto)
OPENSSL_CFLAGS = $(shell $(PKG_CONFIG) --cflags openssl)
OPENSSL_LIBS = $(shell $(PKG_CONFIG) --libs openssl)
# wsbench --deflate: zlib
ZLIB_CFLAGS = $(shell $(PKG_CONFIG) --cflags zlib)
ZLIB_LIBS = $(shell $(PKG_CONFIG) --libs zlib)
OUT ?= .

all: $(OUT)/wsbench $(OUT)/echod $(OUT)/fbbench

$(OUT)/wsbench: wsbench.c
	@mkdir -p $(OUT)
	$(CC) -std=c11 $(WARN) $(CPPFLAGS) $(OPENSSL_CFLAGS) $(ZLIB_CFLAGS) $(CFLAGS) $(LDFLAGS) \
	    -o $@ wsbench.c $(OPENSSL_LIBS) $(ZLIB_LIBS) $(LDLIBS)

$(OUT)/echod: echod.c
	@mkdir -p $(OUT)
	$(CC) -std=c11 $(WARN) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ echod.c

$(OUT)/fbbench: fbbench.c
	@mkdir -p $(OUT)
	$(CC) -std=c11 $(WARN) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ fbbench.c

clean:
	rm -f $(OUT)/wsbench $(OUT)/echod $(OUT)/fbbench

.PHONY: all clean
