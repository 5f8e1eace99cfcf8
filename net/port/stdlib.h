/* lwIP includes <stdlib.h> for atoi (netif_find) only, in Amphi's configuration */
#ifndef AMPHI_LWIP_STDLIB_H
#define AMPHI_LWIP_STDLIB_H

static inline int atoi(const char *s)
{
	int v = 0, neg = *s == '-';

	if (*s == '-' || *s == '+')
		s++;
	while (*s >= '0' && *s <= '9')
		v = v * 10 + (*s++ - '0');
	return neg ? -v : v;
}

#endif
