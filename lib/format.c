/* The one formatter behind the console, panic and every test line. */
#include "lib/format.h"

#include <stdint.h>

struct out {
	char *buf;
	size_t size;
	size_t len;
};

static void put(struct out *o, char c)
{
	if (o->len + 1 < o->size)
		o->buf[o->len] = c;
	o->len++;
}

static void pad(struct out *o, char c, int n)
{
	while (n-- > 0)
		put(o, c);
}

/* digits of v in base b, least significant first; returns their count */
static int digits(char *tmp, uint64_t v, unsigned b, bool upper)
{
	const char *set = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	int n = 0;

	do {
		tmp[n++] = set[v % b];
		v /= b;
	} while (v);
	return n;
}

/* alt: the '#' flag, "0x" before a non-zero hex number */
static void number(struct out *o, uint64_t v, bool neg, unsigned base, bool upper, int width,
		   int prec, bool left, bool zero, bool alt)
{
	char tmp[24];
	/* C: a zero value with precision 0 prints no digits */
	int n = prec == 0 && v == 0 ? 0 : digits(tmp, v, base, upper);
	int zeros = prec > n ? prec - n : 0;
	bool prefix = alt && base == 16 && v;
	int len = n + zeros + (neg ? 1 : 0) + (prefix ? 2 : 0);

	if (prec >= 0)
		zero = false;
	if (!left && !zero)
		pad(o, ' ', width - len);
	if (neg)
		put(o, '-');
	if (prefix) {
		put(o, '0');
		put(o, upper ? 'X' : 'x');
	}
	if (!left && zero)
		pad(o, '0', width - len);
	pad(o, '0', zeros);
	while (n)
		put(o, tmp[--n]);
	if (left)
		pad(o, ' ', width - len);
}

int kvsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct out o = { buf, size, 0 };

	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			put(&o, *fmt);
			continue;
		}
		bool left = false, zero = false, alt = false;
		int width = 0, prec = -1, lng = 0;

		for (;; fmt++) {
			if (fmt[1] == '-')
				left = true;
			else if (fmt[1] == '0')
				zero = true;
			else if (fmt[1] == '#')
				alt = true;
			else
				break;
		}
		fmt++;
		if (*fmt == '*') {
			width = va_arg(ap, int);
			if (width < 0) {
				left = true;
				width = -width;
			}
			fmt++;
		} else {
			while (*fmt >= '0' && *fmt <= '9')
				width = width * 10 + (*fmt++ - '0');
		}
		if (*fmt == '.') {
			fmt++;
			prec = 0;
			if (*fmt == '*') {
				prec = va_arg(ap, int);
				fmt++;
			} else {
				while (*fmt >= '0' && *fmt <= '9')
					prec = prec * 10 + (*fmt++ - '0');
			}
		}
		for (;; fmt++) {
			if (*fmt == 'l' || *fmt == 'z')
				lng = 2;
			else if (*fmt == 'h')
				lng = lng > 0 ? lng : lng - 1;
			else
				break;
		}

		uint64_t u;
		int64_t s;

		switch (*fmt) {
		case 'd':
		case 'i':
			s = lng == 2 ? va_arg(ap, long) : va_arg(ap, int);
			if (lng == -1)
				s = (short)s;
			else if (lng == -2)
				s = (signed char)s;
			u = s < 0 ? -(uint64_t)s : (uint64_t)s;
			number(&o, u, s < 0, 10, false, width, prec, left, zero, false);
			break;
		case 'u':
		case 'x':
		case 'X':
			u = lng == 2 ? va_arg(ap, unsigned long) : va_arg(ap, unsigned int);
			if (lng == -1)
				u = (unsigned short)u;
			else if (lng == -2)
				u = (unsigned char)u;
			number(&o, u, false, *fmt == 'u' ? 10 : 16, *fmt == 'X', width, prec,
			       left, zero, alt);
			break;
		case 'p':
			put(&o, '0');
			put(&o, 'x');
			number(&o, (uintptr_t)va_arg(ap, void *), false, 16, false, 16, -1, false,
			       true, false);
			break;
		case 'c':
			if (!left)
				pad(&o, ' ', width - 1);
			put(&o, (char)va_arg(ap, int));
			if (left)
				pad(&o, ' ', width - 1);
			break;
		case 's': {
			const char *str = va_arg(ap, const char *);
			int n = 0;

			if (!str)
				str = "(null)";
			while (str[n] && (prec < 0 || n < prec))
				n++;
			if (!left)
				pad(&o, ' ', width - n);
			for (int i = 0; i < n; i++)
				put(&o, str[i]);
			if (left)
				pad(&o, ' ', width - n);
			break;
		}
		case '%':
			put(&o, '%');
			break;
		default:
			/* unknown conversion: show it rather than guess at arguments */
			put(&o, '%');
			if (!*fmt)
				goto done;
			put(&o, *fmt);
		}
	}
done:
	if (size)
		buf[o.len < size ? o.len : size - 1] = 0;
	return (int)o.len;
}

int ksnprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = kvsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}
