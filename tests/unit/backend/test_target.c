#include "autoconfig.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "../tap.h"
#include "backend/target.h"

/* ---- parsing ----------------------------------------------------------------------- */

/* Parse and compare every field; name must be the spec as written. */
static void check_parse(const char *spec, bool is_unix, const char *host, unsigned port,
                        const char *path)
{
    struct target t;
    char err[256] = "";
    int rc = target_parse(spec, &t, err, sizeof err);
    ok(rc == 0 && t.is_unix == is_unix && strcmp(t.host, host) == 0 && t.port == port &&
           strcmp(t.path, path) == 0 && strcmp(t.name, spec) == 0 && t.naddrs == 0,
       "target \"%s\": is_unix %d, host \"%s\", port %u, path \"%s\" (got rc %d, %d, \"%s\", %u, "
       "\"%s\"%s%s)",
       spec, is_unix, host, port, path, rc, t.is_unix, escn(t.host, strlen(t.host)), t.port,
       escn(t.path, strlen(t.path)), *err ? ", err: " : "", err);
}

/* Refused, with a reason, whatever was in the struct before. */
static void check_refused(const char *spec, const char *why)
{
    struct target t;
    memset(&t, 0x5A, sizeof t);
    char err[256] = "";
    int rc = target_parse(spec, &t, err, sizeof err);
    ok(rc == -1 && err[0] != '\0' && memchr(err, '\0', sizeof err) != NULL,
       "target \"%s\" is refused: %s (%s)", escn(spec, strlen(spec)), why, err);
}

static void test_parse_valid(void)
{
    check_parse("host:1", false, "host", 1, "");
    check_parse("127.0.0.1:65535", false, "127.0.0.1", 65535, "");
    check_parse("[::1]:5900", false, "::1", 5900, "");
    check_parse("[fe80::1%eth0]:22", false, "fe80::1%eth0", 22, "");
    check_parse("unix:/run/x.sock", true, "", 0, "/run/x.sock");
    check_parse("example.com:443", false, "example.com", 443, "");
    check_parse("vnc-1.internal:5901", false, "vnc-1.internal", 5901, "");
    check_parse("[2001:db8::5]:80", false, "2001:db8::5", 80, "");
    check_parse("unix:relative.sock", true, "", 0, "relative.sock");
    check_parse("unix:/path:with:colons", true, "", 0, "/path:with:colons");

    /* The longest unix path that fits sun_path with its NUL: 107 bytes. */
    char spec[400] = "unix:/";
    memset(spec + 6, 'p', 106);
    spec[112] = '\0';
    check_parse(spec, true, "", 0, spec + 5);

    /* The longest host: 255 bytes. */
    char host[256];
    memset(host, 'h', 255);
    host[255] = '\0';
    snprintf(spec, sizeof spec, "%s:9", host);
    struct target t;
    char err[128];
    ok(target_parse(spec, &t, err, sizeof err) == 0 && strlen(t.host) == 255 && t.port == 9,
       "a 255-byte host is accepted");

    /* Parsing clears what a previous parse left. */
    target_parse("unix:/a", &t, err, sizeof err);
    ok(target_parse("h:2", &t, err, sizeof err) == 0 && !t.is_unix && t.path[0] == '\0' &&
           strcmp(t.name, "h:2") == 0,
       "a host target parsed over a unix one keeps no unix path");
}

static void test_parse_invalid(void)
{
    check_refused("", "empty");
    check_refused("host", "no port");
    check_refused("host:", "empty port");
    check_refused(":80", "empty host");
    check_refused("host:0", "port 0");
    check_refused("host:65536", "port above 65535");
    check_refused("host:99999", "port above 65535");
    check_refused("host:123456", "six-digit port");
    check_refused("host:08a", "port not a number");
    check_refused("host:-1", "negative port");
    check_refused("host:+80", "signed port");
    check_refused("host: 80", "space before the port");
    check_refused("host:80 ", "space after the port");
    check_refused("host:0x50", "hexadecimal port");
    check_refused("::1:5900", "unbracketed IPv6");
    check_refused("a:b:80", "two colons without brackets");
    check_refused("[::1]5900", "no colon after ']'");
    check_refused("[::1]", "no port after ']'");
    check_refused("[::1]:", "empty port after ']'");
    check_refused("[::1", "no ']'");
    check_refused("[]:80", "empty brackets");
    check_refused("[::1]:0", "bracketed, port 0");
    check_refused("unix:", "empty unix path");
    check_refused("ho st:80", "space in host");
    check_refused(" host:80", "leading space");
    check_refused("ho/st:80", "'/' in host");
    check_refused("ho\tst:80", "tab in host");
    check_refused("ho\x7fst:80", "DEL in host");
    check_refused("h\xc3\xa9:80", "non-ASCII in host");
    check_refused("[::1 ]:80", "space inside brackets");
    check_refused("[a/b]:80", "'/' inside brackets");
    check_refused("http://host:80", "a URL");

    /* Unix paths of 108 bytes and more do not fit sun_path. */
    char spec[400] = "unix:/";
    memset(spec + 6, 'p', 107);
    spec[113] = '\0';
    check_refused(spec, "108-byte unix path");
    memset(spec + 6, 'p', 200);
    spec[206] = '\0';
    check_refused(spec, "207-byte unix path");

    /* A host of 256 bytes does not fit. */
    memset(spec, 'h', 256);
    memcpy(spec + 256, ":80", 4);
    check_refused(spec, "256-byte host");

    /* The spec itself must fit in name (300 bytes). */
    memset(spec, 'x', 320);
    spec[320] = '\0';
    check_refused(spec, "320-byte spec");

    /* A small err buffer is filled and terminated, not overrun. */
    struct target t;
    char small[8];
    memset(small, 'Z', sizeof small);
    int rc = target_parse("host", &t, small, 5);
    ok(rc == -1 && memchr(small, '\0', 5) != NULL && small[5] == 'Z',
       "a short err buffer is terminated within its length");
}

/* ---- resolving --------------------------------------------------------------------- */

static void test_resolve(void)
{
    struct target t;
    char err[300] = "";
    int rc;

    target_parse("127.0.0.1:80", &t, err, sizeof err);
    rc = target_resolve(&t, err, sizeof err);
    const struct sockaddr_in *in4 = (const struct sockaddr_in *)&t.addrs[0];
    ok(rc == 0 && t.naddrs == 1 && in4->sin_family == AF_INET && in4->sin_port == htons(80) &&
           in4->sin_addr.s_addr == htonl(INADDR_LOOPBACK) && t.addr_lens[0] == sizeof *in4,
       "127.0.0.1:80 resolves to one AF_INET address, port 80 in network order (%s)", err);

    target_parse("[::1]:8080", &t, err, sizeof err);
    rc = target_resolve(&t, err, sizeof err);
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&t.addrs[0];
    ok(rc == 0 && t.naddrs == 1 && in6->sin6_family == AF_INET6 && in6->sin6_port == htons(8080) &&
           IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) && t.addr_lens[0] == sizeof *in6,
       "[::1]:8080 resolves to one AF_INET6 address, the loopback, port 8080 (%s)", err);

    target_parse("localhost:80", &t, err, sizeof err);
    rc = target_resolve(&t, err, sizeof err);
    bool all_good = rc == 0 && t.naddrs >= 1 && t.naddrs <= TARGET_MAX_ADDRS;
    for (size_t i = 0; all_good && i < t.naddrs; i++) {
        const struct sockaddr *sa = (const struct sockaddr *)&t.addrs[i];
        if (sa->sa_family == AF_INET)
            all_good = ((const struct sockaddr_in *)sa)->sin_port == htons(80);
        else if (sa->sa_family == AF_INET6)
            all_good = ((const struct sockaddr_in6 *)sa)->sin6_port == htons(80);
        else
            all_good = false;
    }
    ok(all_good, "localhost:80 resolves to 1..%d IPv4/IPv6 addresses with port 80 (%zu, %s)",
       TARGET_MAX_ADDRS, t.naddrs, err);

    target_parse("unix:/run/x.sock", &t, err, sizeof err);
    rc = target_resolve(&t, err, sizeof err);
    const struct sockaddr_un *un = (const struct sockaddr_un *)&t.addrs[0];
    ok(rc == 0 && t.naddrs == 1 && un->sun_family == AF_UNIX &&
           strcmp(un->sun_path, "/run/x.sock") == 0 &&
           t.addr_lens[0] == offsetof(struct sockaddr_un, sun_path) + sizeof "/run/x.sock",
       "unix:/run/x.sock gives one AF_UNIX address with the path, length counting the NUL");

    char spec[200] = "unix:/";
    memset(spec + 6, 'p', 106);
    spec[112] = '\0';
    target_parse(spec, &t, err, sizeof err);
    rc = target_resolve(&t, err, sizeof err);
    un = (const struct sockaddr_un *)&t.addrs[0];
    ok(rc == 0 && t.naddrs == 1 && strcmp(un->sun_path, spec + 5) == 0 &&
           t.addr_lens[0] == sizeof(struct sockaddr_un),
       "a 107-byte unix path fills sun_path exactly");

    err[0] = '\0';
    target_parse("no-such-host.invalid:80", &t, err, sizeof err);
    rc = target_resolve(&t, err, sizeof err);
    ok(rc == -1 && strstr(err, "no-such-host.invalid") != NULL,
       "a name under .invalid does not resolve, and the message names it (%s)", err);
}

int main(void)
{
    test_parse_valid();
    test_parse_invalid();
    test_resolve();
    return tap_finish();
}
