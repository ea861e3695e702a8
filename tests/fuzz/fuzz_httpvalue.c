/* libFuzzer target for the header-value parsers of the static files (http.c):
 * HTTP dates, entity-tag lists, byte ranges and Accept-Encoding q-values.
 * Every input goes through all four, so each execution checks each parser.
 *
 * Input layout: byte 0 picks the settings, the rest is one header value
 * (an exact-size copy, so ASan sees any read past its end).
 *   byte 0 bits 0-3: the representation's size for the Range value (sizes[])
 *   byte 0 bits 4-6: "now", which places RFC 850's two-digit years (nows[])
 *   byte 0 bit 7:    the Accept-Encoding value as one line, else split at
 *                    each LF into lines (the other form is checked too)
 *
 * Dates: http_parse_date against a reference that reads the three forms
 * from templates and validates the calendar date with libc's timegm/gmtime
 * (accepted or not, and the time). An accepted date formats back with
 * http_format_date to the same fields (the weekday aside: it is not
 * checked) and reparses to the same time. A time taken from the value's
 * first 8 bytes (years 0 to 9999), written in each form, parses back to
 * itself (RFC 850 when its year is the one the century rule gives).
 *
 * Entity-tags: http_is_etag against a reference; http_etag_match of the
 * value as a list, for the tags the list holds (each with W/ added or
 * removed too) and a fixed one, against a reference written from the
 * header comment: "*" matches every tag, a list the tags before its first
 * malformed element, a weak comparison the opaque tags, a strong one only
 * two strong tags. A tag always weak-matches itself; comparing two single
 * tags is symmetric.
 *
 * Ranges: http_parse_range against a reference (numbers compared as
 * decimal strings, so huge ones too); a single range lies in the size with
 * first <= last, and "bytes=first-last" gives it back.
 *
 * Codings: http_coding_weight of a request whose Accept-Encoding lines hold
 * the value, for gzip and for the value's first token, in [-1, 1000] and
 * equal to a reference's; the same when the lines are joined into one with
 * commas (or, gzip, split at every comma), and when the token is asked for
 * in upper case. */
#include "autoconfig.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "proto/http.h"

#include "fuzz_exact.h"

static const uint64_t sizes[16] = {0,
                                   1,
                                   2,
                                   3,
                                   10,
                                   100,
                                   500,
                                   1000,
                                   10000,
                                   (uint64_t)1 << 31,
                                   (uint64_t)1 << 32,
                                   (uint64_t)1 << 53,
                                   (uint64_t)1 << 63,
                                   UINT64_MAX - 1,
                                   UINT64_MAX,
                                   12345678901234567ull};

/* 1970, 1994, 2025, mid-2026, the last second of 2049, 2051, 2100 and the
 * last second of 9999. */
static const time_t nows[8] = {0,          784111777,  1735689600, 1782000000,
                               2524607999, 2556144000, 4102444800, 253402300799};

#define YEAR0    (-62167219200LL) /* 0000-01-01 00:00:00 */
#define YEAR9999 253402300799LL   /* 9999-12-31 23:59:59 */

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* ---- dates ---------------------------------------------------------------- */

static const char *const days3[7] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const days_long[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                         "Thursday", "Friday", "Saturday"};
static const char *const months[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* s (n bytes) against a template: '9' a digit, '_' a digit or a space,
 * '*' any byte, anything else itself. */
static bool fits(const char *s, size_t n, const char *tpl)
{
    if (strlen(tpl) != n) return false;
    for (size_t i = 0; i < n; i++) {
        char t = tpl[i], c = s[i];
        if (t == '9' ? !is_digit(c) : t == '_' ? !is_digit(c) && c != ' ' : t != '*' && c != t)
            return false;
    }
    return true;
}

static int num(const char *s, size_t k)
{
    int v = 0;
    for (size_t i = 0; i < k; i++) v = v * 10 + (s[i] == ' ' ? 0 : s[i] - '0');
    return v;
}

static int find_name(const char *const *names, int count, const char *s, size_t n)
{
    for (int i = 0; i < count; i++)
        if (strlen(names[i]) == n && memcmp(names[i], s, n) == 0) return i;
    return -1;
}

/* The year RFC 850's two digits name: in now's century, unless that is more
 * than 50 years ahead of now, then in the one before. */
static int century_rule(int yy, time_t now)
{
    struct tm tm;
    if (!gmtime_r(&now, &tm)) abort();
    int this_year = tm.tm_year + 1900;
    int y = this_year / 100 * 100 + yy;
    return y > this_year + 50 ? y - 100 : y;
}

/* The reference: a form's fields from its template, then the calendar
 * through timegm, a date that does not exist being one that gmtime gives
 * back differently. */
static bool ref_date(const char *s, size_t n, time_t now, time_t *t)
{
    int day, mon, year, h, m, sec;
    if (fits(s, n, "***, 99 *** 9999 99:99:99 GMT")) {
        if (find_name(days3, 7, s, 3) < 0) return false;
        day = num(s + 5, 2);
        mon = find_name(months, 12, s + 8, 3);
        year = num(s + 12, 4);
        h = num(s + 17, 2), m = num(s + 20, 2), sec = num(s + 23, 2);
    } else if (fits(s, n, "*** *** _9 99:99:99 9999")) {
        if (find_name(days3, 7, s, 3) < 0 || (s[8] != ' ' && !is_digit(s[8]))) return false;
        mon = find_name(months, 12, s + 4, 3);
        day = num(s + 8, 2);
        h = num(s + 11, 2), m = num(s + 14, 2), sec = num(s + 17, 2);
        year = num(s + 20, 4);
    } else {
        const char *comma = n > 23 ? memchr(s, ',', n - 23) : NULL;
        if (!comma) return false;
        size_t k = (size_t)(comma - s);
        if (find_name(days_long, 7, s, k) < 0 || !fits(comma, n - k, ", 99-***-99 99:99:99 GMT"))
            return false;
        day = num(comma + 2, 2);
        mon = find_name(months, 12, comma + 5, 3);
        year = century_rule(num(comma + 9, 2), now);
        h = num(comma + 12, 2), m = num(comma + 15, 2), sec = num(comma + 18, 2);
    }
    if (mon < 0 || h > 23 || m > 59 || sec > 60) return false;
    struct tm tm = {.tm_year = year - 1900, .tm_mon = mon, .tm_mday = day};
    time_t midnight = timegm(&tm);
    struct tm back;
    if (!gmtime_r(&midnight, &back) || back.tm_year != year - 1900 || back.tm_mon != mon ||
        back.tm_mday != day)
        return false;
    *t = midnight + h * 3600 + m * 60 + sec;
    return true;
}

static void put2(char *p, int v)
{
    p[0] = (char)('0' + v / 10 % 10);
    p[1] = (char)('0' + v % 10);
}

static void put4(char *p, int v)
{
    put2(p, v / 100);
    put2(p + 2, v % 100);
}

static void check_dates(const char *v, size_t n, time_t now)
{
    time_t got = -1, want = -2;
    bool ok = http_parse_date(v, n, now, &got);
    if (ok != ref_date(v, n, now, &want) || (ok && got != want)) abort();
    if (ok && got >= YEAR0 && got <= YEAR9999) {
        char out[HTTP_DATE_LEN + 1];
        memset(out, '#', sizeof out);
        http_format_date(got, out);
        if (out[HTTP_DATE_LEN] != '\0' || strlen(out) != HTTP_DATE_LEN) abort();
        time_t back;
        if (!http_parse_date(out, HTTP_DATE_LEN, now, &back) || back != got) abort();
        /* The same fields (a leap second is the next minute's 00). */
        const bool leap = n == 29   ? memcmp(v + 23, "60", 2) == 0
                          : n == 24 ? memcmp(v + 17, "60", 2) == 0
                                    : memcmp(v + n - 6, "60", 2) == 0;
        if (!leap) {
            if (n == 29 && memcmp(out + 3, v + 3, 26) != 0) abort();
            if (n == 24 && (memcmp(out + 8, v + 4, 3) != 0 || num(out + 5, 2) != num(v + 8, 2) ||
                            memcmp(out + 17, v + 11, 8) != 0 || memcmp(out + 12, v + 20, 4) != 0))
                abort();
        }
    }

    /* A time from the value's first bytes, written in each form. */
    if (n < 8) return;
    uint64_t x;
    memcpy(&x, v, 8);
    const time_t t = (time_t)(YEAR0 + (int64_t)(x % (uint64_t)(YEAR9999 - YEAR0 + 1)));
    struct tm tm;
    if (!gmtime_r(&t, &tm)) abort();
    const int year = tm.tm_year + 1900;
    char imf[HTTP_DATE_LEN + 1], asc[25], rfc850[40];
    http_format_date(t, imf);
    memcpy(asc, days3[tm.tm_wday], 3);
    asc[3] = ' ';
    memcpy(asc + 4, months[tm.tm_mon], 3);
    asc[7] = ' ';
    put2(asc + 8, tm.tm_mday);
    if (asc[8] == '0') asc[8] = ' ';
    memcpy(asc + 10, imf + 16, 10); /* " HH:MM:SS " */
    put4(asc + 20, year);
    size_t dl = strlen(days_long[tm.tm_wday]);
    memcpy(rfc850, days_long[tm.tm_wday], dl);
    memcpy(rfc850 + dl, ", DD-Mon-YY ", 12);
    put2(rfc850 + dl + 2, tm.tm_mday);
    memcpy(rfc850 + dl + 5, months[tm.tm_mon], 3);
    put2(rfc850 + dl + 9, year % 100);
    memcpy(rfc850 + dl + 12, imf + 17, 12); /* "HH:MM:SS GMT" */
    time_t back;
    if (!http_parse_date(imf, HTTP_DATE_LEN, now, &back) || back != t) abort();
    if (!http_parse_date(asc, 24, now, &back) || back != t) abort();
    /* In another century the date may not exist (29 February). */
    bool ok850 = http_parse_date(rfc850, dl + 24, now, &back);
    if (century_rule(year % 100, now) == year && (!ok850 || back != t)) abort();
}

/* ---- entity-tags ---------------------------------------------------------- */

/* An entity-tag at v[i..end): returns its end (0 when there is none), with
 * its opaque tag at *op (op_len bytes, quotes included) and whether W/. */
static size_t ref_etag_at(const char *v, size_t end, size_t i, size_t *op, bool *weak)
{
    *weak = end - i >= 2 && v[i] == 'W' && v[i + 1] == '/';
    size_t q = i + (*weak ? 2 : 0);
    if (q >= end || v[q] != '"') return 0;
    for (size_t j = q + 1; j < end; j++) {
        unsigned char c = (unsigned char)v[j];
        if (c == '"') {
            *op = q;
            return j + 1;
        }
        /* etagc: %x21 / %x23-7E / obs-text */
        if (!(c == 0x21 || (c >= 0x23 && c <= 0x7E) || c >= 0x80)) return 0;
    }
    return 0;
}

static bool ref_is_etag(const char *v, size_t n)
{
    size_t op;
    bool weak;
    return ref_etag_at(v, n, 0, &op, &weak) == n && n > 0;
}

#define MAX_TAGS  64 /* a list's tags the reference holds */
#define MAX_TRIED 8  /* of which tried as our tag */
struct tag {
    const char *p; /* the whole entity-tag */
    size_t len;
    size_t op; /* offset of the opaque tag in it */
    bool weak;
};

/* The list's entity-tags before its first malformed element; *star when
 * the value is "*" alone. Returns their number (up to max; *more says
 * whether there were more). */
static size_t ref_tags(const char *v, size_t n, struct tag *tags, size_t max, bool *star,
                       bool *more)
{
    size_t a = 0, b = n, count = 0;
    while (a < b && is_ows(v[a])) a++;
    while (b > a && is_ows(v[b - 1])) b--;
    *star = b - a == 1 && v[a] == '*';
    *more = false;
    if (*star) return 0;
    size_t i = a;
    for (;;) {
        while (i < b && (is_ows(v[i]) || v[i] == ',')) i++;
        if (i == b) break;
        size_t op;
        bool weak;
        size_t e = ref_etag_at(v, b, i, &op, &weak);
        if (!e) break;
        size_t j = e;
        while (j < b && is_ows(v[j])) j++;
        if (j < b && v[j] != ',') break;
        if (count < max)
            tags[count++] = (struct tag){v + i, e - i, op - i, weak};
        else
            *more = true;
        i = j;
    }
    return count;
}

static bool same_opaque(const struct tag *a, const struct tag *b)
{
    return a->len - a->op == b->len - b->op &&
           memcmp(a->p + a->op, b->p + b->op, a->len - a->op) == 0;
}

/* Whether the list's tags (or "*") name tag c. */
static bool ref_match(const struct tag *tags, size_t count, bool star, const struct tag *c,
                      bool strong)
{
    if (star) return true;
    for (size_t i = 0; i < count; i++)
        if (same_opaque(&tags[i], c) && (!strong || (!tags[i].weak && !c->weak))) return true;
    return false;
}

static struct exact tag_buf, tag_buf2;

static bool match(const char *v, size_t n, const struct tag *c, bool strong)
{
    /* Our tag in an exact-size buffer of its own too. */
    const char *e = (const char *)exact_copy(&tag_buf, c->p, c->len);
    return http_etag_match(v, n, e, c->len, strong);
}

/* c with W/ added or removed, in buf. */
static struct tag toggled(const struct tag *c, char *buf)
{
    if (c->weak) return (struct tag){c->p + 2, c->len - 2, 0, false};
    memcpy(buf, "W/", 2);
    memcpy(buf + 2, c->p, c->len);
    return (struct tag){buf, c->len + 2, 2, true};
}

static void check_etags(const char *v, size_t n)
{
    if (http_is_etag(v, n) != ref_is_etag(v, n)) abort();
    struct tag tags[MAX_TAGS];
    bool star, more;
    size_t count = ref_tags(v, n, tags, MAX_TAGS, &star, &more);
    if (more) return; /* the reference would need them all */
    static const struct tag fixed = {"\"x\"", 3, 0, false};
    static char *tbuf;
    if (!tbuf && !(tbuf = malloc(2 + 2048 + 16))) abort();
    const size_t tried = count < MAX_TRIED ? count : MAX_TRIED;
    for (size_t i = 0; i <= tried; i++) {
        const struct tag *c = i < tried ? &tags[i] : &fixed;
        if (c->len > 2048) continue;
        const struct tag w = toggled(c, tbuf);
        for (int strong = 0; strong < 2; strong++) {
            if (match(v, n, c, strong) != ref_match(tags, count, star, c, strong)) abort();
            if (match(v, n, &w, strong) != ref_match(tags, count, star, &w, strong)) abort();
        }
        if (i < tried && !match(v, n, c, false)) abort(); /* a listed tag matches itself */
        /* The tag alone as a list: it weak-matches itself; strongly when strong. */
        const char *alone = (const char *)exact_copy(&tag_buf2, c->p, c->len);
        if (!http_etag_match(alone, c->len, c->p, c->len, false) ||
            http_etag_match(alone, c->len, c->p, c->len, true) != !c->weak)
            abort();
    }
    /* Two single tags compare the same both ways. */
    if (count >= 2) {
        for (int strong = 0; strong < 2; strong++) {
            const char *a = (const char *)exact_copy(&tag_buf2, tags[0].p, tags[0].len);
            bool ab = http_etag_match(a, tags[0].len, tags[1].p, tags[1].len, strong);
            const char *b = (const char *)exact_copy(&tag_buf2, tags[1].p, tags[1].len);
            bool ba = http_etag_match(b, tags[1].len, tags[0].p, tags[0].len, strong);
            if (ab != ba || ab != ref_match(&tags[0], 1, false, &tags[1], strong)) abort();
        }
    }
    /* "*" matches any entity-tag, and nothing that is not one. */
    if (!http_etag_match(" * ", 3, "\"x\"", 3, true)) abort();
    if (http_etag_match("*", 1, v, n, false) != ref_is_etag(v, n)) abort();
}

/* ---- ranges --------------------------------------------------------------- */

/* Decimal digits as a number, saturating (anything past UINT64_MAX is as
 * unsatisfiable or as clamped as UINT64_MAX itself). */
static uint64_t dec(const char *s, size_t k)
{
    uint64_t x = 0;
    for (size_t i = 0; i < k; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (x > (UINT64_MAX - d) / 10) return UINT64_MAX;
        x = x * 10 + d;
    }
    return x;
}

/* a < b, as decimal strings of any length. */
static bool dec_less(const char *a, size_t an, const char *b, size_t bn)
{
    while (an && *a == '0') a++, an--;
    while (bn && *b == '0') b++, bn--;
    if (an != bn) return an < bn;
    return memcmp(a, b, an) < 0;
}

static enum http_range ref_range(const char *v, size_t n, uint64_t size, uint64_t *first,
                                 uint64_t *last)
{
    if (n < 6 || strncasecmp(v, "bytes=", 6) != 0) return HTTP_RANGE_IGNORE;
    size_t i = 6, specs = 0, good = 0;
    while (i < n) {
        if (is_ows(v[i]) || v[i] == ',') {
            i++;
            continue;
        }
        /* A spec: digits, '-', digits, then OWS, then ',' or the end. */
        size_t a0 = i;
        while (i < n && is_digit(v[i])) i++;
        size_t an = i - a0;
        if (i == n || v[i] != '-') return HTTP_RANGE_IGNORE;
        size_t b0 = ++i;
        while (i < n && is_digit(v[i])) i++;
        size_t bn = i - b0;
        while (i < n && is_ows(v[i])) i++;
        if (i < n && v[i] != ',') return HTTP_RANGE_IGNORE;
        if (!an && !bn) return HTTP_RANGE_IGNORE;
        if (an && bn && dec_less(v + b0, bn, v + a0, an)) return HTTP_RANGE_IGNORE;
        specs++;
        uint64_t from, to;
        if (an) {
            uint64_t a = dec(v + a0, an);
            if (a >= size) continue;
            from = a;
            uint64_t b = bn ? dec(v + b0, bn) : UINT64_MAX;
            to = b < size ? b : size - 1;
        } else {
            uint64_t suffix = dec(v + b0, bn);
            if (suffix == 0) continue;
            from = suffix >= size ? 0 : size - suffix;
            to = size - 1;
        }
        if (size == 0) continue;
        if (++good == 1) *first = from, *last = to;
    }
    if (!specs || size == 0) return HTTP_RANGE_IGNORE;
    return good == 0 ? HTTP_RANGE_NONE : good == 1 ? HTTP_RANGE_ONE : HTTP_RANGE_MANY;
}

static void check_range(const char *v, size_t n, uint64_t size)
{
    uint64_t first = 7, last = 3, rf = 0, rl = 0;
    enum http_range got = http_parse_range(v, n, size, &first, &last);
    enum http_range want = ref_range(v, n, size, &rf, &rl);
    if (got != want) abort();
    if (got != HTTP_RANGE_ONE) return;
    if (first != rf || last != rl || first > last || last >= size) abort();
    char again[64];
    int k = snprintf(again, sizeof again, "bytes=%llu-%llu", (unsigned long long)first,
                     (unsigned long long)last);
    uint64_t f2 = 1, l2 = 0;
    if (http_parse_range(again, (size_t)k, size, &f2, &l2) != HTTP_RANGE_ONE || f2 != first ||
        l2 != last)
        abort();
}

/* ---- content codings ------------------------------------------------------ */

/* "0", "0.", "0.5", "1", "1.000": 0 to 1000, else -1 (RFC 9110's qvalue). */
static int ref_qvalue(const char *s, size_t n)
{
    if (n == 0 || n > 5 || (s[0] != '0' && s[0] != '1') || (n > 1 && s[1] != '.')) return -1;
    int q = s[0] == '1' ? 1000 : 0, scale = 100;
    for (size_t i = 2; i < n; i++, scale /= 10) {
        if (!is_digit(s[i]) || (s[0] == '1' && s[i] != '0')) return -1;
        q += (s[i] - '0') * scale;
    }
    return q;
}

static void trim(const char **s, size_t *n)
{
    while (*n && is_ows(**s)) (*s)++, (*n)--;
    while (*n && is_ows((*s)[*n - 1])) (*n)--;
}

/* One element: its coding (the tchars it starts with) and its weight, 0
 * when anything else in it is off: each ';' part but the first must be
 * token=token-chars, a "q" (either case) one a qvalue. */
static int ref_element(const char *s, size_t n, const char **name, size_t *name_len)
{
    size_t k = 0;
    while (k < n && tchar((unsigned char)s[k])) k++;
    *name = s;
    *name_len = k;
    const char *semi = memchr(s, ';', n);
    size_t head = semi ? (size_t)(semi - s) : n;
    const char *h = s + k;
    size_t hn = head - k;
    trim(&h, &hn);
    if (hn || !k) return 0;
    int q = 1000;
    while (semi) {
        const char *p = semi + 1;
        size_t left = n - (size_t)(p - s);
        semi = memchr(p, ';', left);
        size_t pn = semi ? (size_t)(semi - p) : left;
        trim(&p, &pn);
        size_t t = 0;
        while (t < pn && tchar((unsigned char)p[t])) t++;
        if (t == 0 || t == pn || p[t] != '=') return 0;
        for (size_t j = t + 1; j < pn; j++)
            if (!tchar((unsigned char)p[j])) return 0;
        if (t == 1 && (p[0] == 'q' || p[0] == 'Q')) {
            q = ref_qvalue(p + 2, pn - 2);
            if (q < 0) return 0;
        }
    }
    return q;
}

static bool names(const char *s, size_t n, const char *coding)
{
    return strlen(coding) == n && strncasecmp(s, coding, n) == 0;
}

static int ref_weight(const struct http_request *r, const char *coding)
{
    int named = -1, star = -1;
    const bool gzip = strcasecmp(coding, "gzip") == 0;
    for (size_t h = 0; h < r->nheaders; h++) {
        const struct http_header *hd = &r->headers[h];
        if (!names(hd->name, hd->name_len, "accept-encoding")) continue;
        const char *v = hd->value, *end = v + hd->value_len;
        while (v <= end) {
            const char *comma = memchr(v, ',', (size_t)(end - v));
            const char *e = comma ? comma : end;
            const char *s = v;
            size_t n = (size_t)(e - v);
            trim(&s, &n);
            if (n) {
                const char *name;
                size_t len;
                int q = ref_element(s, n, &name, &len);
                if (names(name, len, coding) || (gzip && names(name, len, "x-gzip"))) {
                    if (named < 0) named = q;
                } else if (len == 1 && *name == '*' && star < 0) {
                    star = q;
                }
            }
            if (!comma) break;
            v = comma + 1;
        }
    }
    return named >= 0 ? named : star;
}

#define MAX_LINES 16
static struct http_request split_req, joined_req, comma_req;
static struct exact joined_buf;

/* Lines as the parser would give them: blanks around them removed. */
static void add_line(struct http_request *r, const char *s, size_t n, const char *name)
{
    trim(&s, &n);
    if (r->nheaders == HTTP_MAX_HEADERS) return;
    r->headers[r->nheaders++] = (struct http_header){name, strlen(name), s, n};
}

static int weight(const struct http_request *r, const char *coding)
{
    int w = http_coding_weight(r, coding);
    if (w < -1 || w > 1000 || w != ref_weight(r, coding)) abort();
    return w;
}

static void check_codings(const char *v, size_t n, bool one_line)
{
    /* Split at LF; the lines joined with commas; and split at every comma. */
    split_req.nheaders = joined_req.nheaders = comma_req.nheaders = 0;
    add_line(&split_req, "gzip", 4, "Accept"); /* another header: not read */
    char *joined = (char *)exact_use(&joined_buf, n);
    size_t jn = 0, lines = 0;
    for (size_t i = 0; i <= n && lines < MAX_LINES;) {
        const char *lf = one_line ? NULL : memchr(v + i, '\n', n - i);
        size_t e = lf ? (size_t)(lf - v) : n;
        add_line(&split_req, v + i, e - i, lines & 1 ? "accept-encoding" : "Accept-Encoding");
        if (jn) joined[jn++] = ',';
        memcpy(joined + jn, v + i, e - i);
        jn += e - i;
        lines++;
        i = e + 1;
        if (!lf) break;
    }
    add_line(&joined_req, joined, jn, "ACCEPT-ENCODING");
    for (size_t i = 0; i <= jn && comma_req.nheaders < MAX_LINES;) {
        const char *c = memchr(joined + i, ',', jn - i);
        size_t e = c ? (size_t)(c - joined) : jn;
        add_line(&comma_req, joined + i, e - i, "Accept-Encoding");
        i = e + 1;
        if (!c) break;
    }
    const bool comma_all = comma_req.nheaders < MAX_LINES; /* all of it split */

    /* gzip (and x-gzip), and the value's first token as a coding. */
    char first[32];
    size_t fl = 0;
    while (fl < n && fl < sizeof first - 1 && tchar((unsigned char)v[fl])) fl++;
    memcpy(first, v, fl);
    first[fl] = '\0';
    int w = weight(&split_req, "gzip");
    if (http_coding_weight(&joined_req, "gzip") != w) abort();
    if (comma_all && http_coding_weight(&comma_req, "gzip") != w) abort();
    if (fl) {
        w = weight(&split_req, first);
        if (http_coding_weight(&joined_req, first) != w) abort();
        for (size_t i = 0; i < fl; i++)
            if (first[i] >= 'a' && first[i] <= 'z') first[i] = (char)(first[i] - 32);
        if (http_coding_weight(&split_req, first) != w) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const uint8_t sel = data[0];
    const size_t n = size - 1;
    static struct exact value;
    const char *v = (const char *)exact_copy(&value, data + 1, n);

    check_dates(v, n, nows[(sel >> 4) & 7]);
    check_etags(v, n);
    check_range(v, n, sizes[sel & 15]);
    check_codings(v, n, sel & 0x80);
    return 0;
}
