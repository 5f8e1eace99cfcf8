/* The kernel command line: space-separated words, each `key=value` or a bare `flag`.
 * The last occurrence of a key wins, as on Linux. No quoting. The kernel's options end at
 * a `--` word; the rest belongs to the app. */
#ifndef LIB_CMDLINE_H
#define LIB_CMDLINE_H

#include "lib/compiler.h"

/* Copies the value of `key` into buf (truncated to size-1, always terminated); returns
 * the value's full length, or -1 when the key is absent. A bare flag has value "". */
int cmdline_get(const char *cmdline, const char *key, char *buf, size_t size);
bool cmdline_has(const char *cmdline, const char *key);
/* What follows the first `--` word (may be ""), or NULL when there is none. */
const char *cmdline_rest(const char *cmdline);
/* Parses a decimal or 0x-hex value; returns -EINVAL on a malformed or overflowing value,
 * -ENOENT when absent, 0 on success. */
int cmdline_get_u64(const char *cmdline, const char *key, uint64_t *out);
int parse_u64(const char *s, uint64_t *out);

#endif
