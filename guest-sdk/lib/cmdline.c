/*
 * cmdline.c - reading numbers from the command line the toolstack put in
 * start_info.cmd_line (xl.cfg cmdline/extra) and from xenstore values.
 */
#include <paravirt/pv.h>

long pv_parse_decimal(const char *s, long limit)
{
    long v = 0;
    if (s == NULL || *s == '\0')
        return -1;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (*s - '0');
        if (v >= limit)
            return -1;
    }
    return v;
}

long pv_cmdline_number(const start_info_t *si, const char *key, long limit)
{
    if (si == NULL || key == NULL)
        return -1;
    const char *s = (const char *)si->cmd_line;
    size_t n = strnlen(s, MAX_GUEST_CMDLINE), k = strlen(key);
    for (size_t i = 0; i + k <= n; i++) {
        /* Whole words only: "peer=" must not match inside "xpeer=". */
        if ((i == 0 || s[i - 1] == ' ') && strncmp(s + i, key, k) == 0) {
            long v = 0;
            size_t j = i + k;
            if (j >= n || s[j] < '0' || s[j] > '9')
                return -1;
            for (; j < n && s[j] >= '0' && s[j] <= '9'; j++) {
                v = v * 10 + (s[j] - '0');
                if (v >= limit)
                    return -1;
            }
            if (j < n && s[j] != ' ')
                return -1;      /* "peer=12x" is not a number */
            return v;
        }
    }
    return -1;
}
