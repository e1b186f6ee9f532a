/* application/x-www-form-urlencoded decoding. */
#include "urlenc.h"

#include "encode.h"

long urlenc_decode(const char *src, size_t n, char *dst, size_t dstlen)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		char c = src[i];
		if (c == '%') {
			if (i + 2 >= n)
				return -1;
			int h = enc_hex_value(src[i + 1]), l = enc_hex_value(src[i + 2]);
			if (h < 0 || l < 0 || (h == 0 && l == 0))
				return -1;
			c = (char)(h * 16 + l);
			i += 2;
		} else if (c == '+') {
			c = ' ';
		}
		if (k + 1 >= dstlen)
			return -1;
		dst[k++] = c;
	}
	if (!dstlen)
		return -1;
	dst[k] = '\0';
	return (long)k;
}
