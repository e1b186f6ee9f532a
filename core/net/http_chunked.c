/* The strict chunked-body decoder (http_chunked.h): one driver,
 * http_chunked_feed(), moves enum http_chunked_state one byte at a time,
 * except over chunk-data, which is passed on in the largest pieces the
 * input holds. Every byte is checked where it arrives, so nothing is kept
 * between calls but the state and a few counters. */
#include "http_chunked.h"

#include <stdbool.h>

#include "encode.h"
#include "http_head.h"

static enum http_chunked_result stop(struct http_chunked *d, enum http_chunked_state state, const char *reason);
static enum http_chunked_result result_of(enum http_chunked_state state);
static bool is_ctl(unsigned char c);
static bool in_line(enum http_chunked_state state);
static bool in_trailer(enum http_chunked_state state);

void http_chunked_init(struct http_chunked *d, uint64_t max_body)
{
	*d = (struct http_chunked){.state = CHUNKED_SIZE_START, .max_body = max_body};
}

enum http_chunked_result http_chunked_feed(struct http_chunked *d, const char *in, size_t len, size_t *consumed,
					   http_chunked_data_fn data, void *arg)
{
	size_t i = 0;
	enum http_chunked_result r = HTTP_CHUNKED_MORE;

	*consumed = 0;
	if (d->state >= CHUNKED_DONE)
		return result_of(d->state);

	while (i < len) {
		unsigned char c = (unsigned char)in[i];
		int v;

		if (d->state == CHUNKED_DATA) {
			size_t n = len - i;
			if (n > d->left)
				n = (size_t)d->left;
			d->left -= n;
			i += n;
			if (d->left == 0)
				d->state = CHUNKED_DATA_CR;
			if (data(arg, in + i - n, n) != 0) {
				*consumed = i;
				return stop(d, CHUNKED_STOPPED, "body refused");
			}
			continue;
		}

		/* The caps, before the byte is looked at: so the byte past a
		 * cap is the one refused, whatever it is. */
		if (in_line(d->state) && c != '\r' && ++d->line > HTTP_CHUNKED_LINE_MAX) {
			r = stop(d, CHUNKED_BAD, "chunk line too long");
			break;
		}
		if (in_trailer(d->state) && ++d->trailer > HTTP_CHUNKED_TRAILER_MAX) {
			r = stop(d, CHUNKED_BAD, "trailer section too large");
			break;
		}
		if (c == '\n' && d->state != CHUNKED_LINE_LF && d->state != CHUNKED_DATA_LF &&
		    d->state != CHUNKED_TRAILER_LF && d->state != CHUNKED_END_LF) {
			r = stop(d, CHUNKED_BAD, "bare LF in chunked body");
			break;
		}

		switch (d->state) {
		case CHUNKED_SIZE_START:
			if ((v = enc_hex_value(c)) < 0) {
				r = stop(d, CHUNKED_BAD, "chunk size missing or not hexadecimal");
				break;
			}
			d->size = (uint64_t)v;
			d->digits = 1;
			d->state = CHUNKED_SIZE;
			break;
		case CHUNKED_SIZE:
			if ((v = enc_hex_value(c)) >= 0) {
				/* Sixteen digits hold any 64-bit size: no overflow. */
				if (++d->digits > HTTP_CHUNKED_DIGITS_MAX) {
					r = stop(d, CHUNKED_BAD, "chunk size over 16 hex digits");
					break;
				}
				d->size = d->size << 4 | (uint64_t)v;
			} else if (c == ' ' || c == '\t') {
				d->state = CHUNKED_BWS_SEMI;
			} else if (c == ';') {
				d->state = CHUNKED_EXT_NAME_START;
			} else if (c == '\r') {
				d->state = CHUNKED_LINE_LF;
			} else {
				r = stop(d, CHUNKED_BAD, "invalid byte after chunk size");
			}
			break;
		case CHUNKED_BWS_SEMI:
			/* "2 ;a" is a size and an extension; "2 1" is neither. */
			if (c == ';')
				d->state = CHUNKED_EXT_NAME_START;
			else if (c != ' ' && c != '\t')
				r = stop(d, CHUNKED_BAD, "space in chunk line not before ';'");
			break;
		case CHUNKED_EXT_NAME_START:
			if (http_is_token_char(c))
				d->state = CHUNKED_EXT_NAME;
			else if (c != ' ' && c != '\t')
				r = stop(d, CHUNKED_BAD, "chunk extension name not a token");
			break;
		case CHUNKED_EXT_NAME:
			if (http_is_token_char(c))
				break;
			if (c == ' ' || c == '\t')
				d->state = CHUNKED_EXT_NAME_BWS;
			else if (c == '=')
				d->state = CHUNKED_EXT_VALUE_START;
			else if (c == ';')
				d->state = CHUNKED_EXT_NAME_START;
			else if (c == '\r')
				d->state = CHUNKED_LINE_LF;
			else
				r = stop(d, CHUNKED_BAD, "invalid byte in chunk extension name");
			break;
		case CHUNKED_EXT_NAME_BWS:
			if (c == '=')
				d->state = CHUNKED_EXT_VALUE_START;
			else if (c == ';')
				d->state = CHUNKED_EXT_NAME_START;
			else if (c != ' ' && c != '\t')
				r = stop(d, CHUNKED_BAD, "space in chunk extension not before '=' or ';'");
			break;
		case CHUNKED_EXT_VALUE_START:
			if (c == '"')
				d->state = CHUNKED_EXT_QUOTED;
			else if (http_is_token_char(c))
				d->state = CHUNKED_EXT_TOKEN;
			else if (c != ' ' && c != '\t')
				r = stop(d, CHUNKED_BAD, "chunk extension value not a token or quoted-string");
			break;
		case CHUNKED_EXT_TOKEN:
			if (http_is_token_char(c))
				break;
			if (c == ' ' || c == '\t')
				d->state = CHUNKED_BWS_SEMI;
			else if (c == ';')
				d->state = CHUNKED_EXT_NAME_START;
			else if (c == '\r')
				d->state = CHUNKED_LINE_LF;
			else
				r = stop(d, CHUNKED_BAD, "invalid byte in chunk extension value");
			break;
		case CHUNKED_EXT_QUOTED:
			if (c == '"')
				d->state = CHUNKED_EXT_QUOTED_END;
			else if (c == '\\')
				d->state = CHUNKED_EXT_QUOTED_PAIR;
			else if (is_ctl(c))
				r = stop(d, CHUNKED_BAD, "control byte in chunk extension");
			break;
		case CHUNKED_EXT_QUOTED_PAIR:
			if (is_ctl(c))
				r = stop(d, CHUNKED_BAD, "control byte in chunk extension");
			else
				d->state = CHUNKED_EXT_QUOTED;
			break;
		case CHUNKED_EXT_QUOTED_END:
			if (c == ' ' || c == '\t')
				d->state = CHUNKED_BWS_SEMI;
			else if (c == ';')
				d->state = CHUNKED_EXT_NAME_START;
			else if (c == '\r')
				d->state = CHUNKED_LINE_LF;
			else
				r = stop(d, CHUNKED_BAD, "invalid byte after quoted chunk extension");
			break;
		case CHUNKED_LINE_LF:
			if (c != '\n') {
				r = stop(d, CHUNKED_BAD, "bare CR in chunk line");
				break;
			}
			/* The limit holds before the chunk's bytes are read. */
			if (d->size > d->max_body - d->body) {
				r = stop(d, CHUNKED_TOO_LARGE, "chunk sizes over the body limit");
				break;
			}
			d->body += d->size;
			d->left = d->size;
			d->line = 0;
			d->state = d->size == 0 ? CHUNKED_TRAILER_START : CHUNKED_DATA;
			break;
		case CHUNKED_DATA_CR:
			if (c == '\r')
				d->state = CHUNKED_DATA_LF;
			else
				r = stop(d, CHUNKED_BAD, "chunk data not followed by CRLF");
			break;
		case CHUNKED_DATA_LF:
			if (c != '\n') {
				r = stop(d, CHUNKED_BAD, "chunk data not followed by CRLF");
				break;
			}
			d->state = CHUNKED_SIZE_START;
			break;
		case CHUNKED_TRAILER_START:
			if (c == '\r')
				d->state = CHUNKED_END_LF;
			else if (http_is_token_char(c))
				d->state = CHUNKED_TRAILER_NAME;
			else
				r = stop(d, CHUNKED_BAD, "trailer field name not a token");
			break;
		case CHUNKED_TRAILER_NAME:
			if (c == ':')
				d->state = CHUNKED_TRAILER_VALUE;
			else if (!http_is_token_char(c))
				r = stop(d, CHUNKED_BAD, "trailer field name not a token");
			break;
		case CHUNKED_TRAILER_VALUE:
			if (c == '\r')
				d->state = CHUNKED_TRAILER_LF;
			else if (is_ctl(c))
				r = stop(d, CHUNKED_BAD, "control byte in trailer field");
			break;
		case CHUNKED_TRAILER_LF:
			if (c == '\n')
				d->state = CHUNKED_TRAILER_START;
			else
				r = stop(d, CHUNKED_BAD, "bare CR in trailer section");
			break;
		case CHUNKED_END_LF:
			if (c != '\n') {
				r = stop(d, CHUNKED_BAD, "bare CR in trailer section");
				break;
			}
			d->state = CHUNKED_DONE;
			r = HTTP_CHUNKED_DONE;
			break;
		case CHUNKED_DATA:
		case CHUNKED_DONE:
		case CHUNKED_BAD:
		case CHUNKED_TOO_LARGE:
		case CHUNKED_STOPPED:
			/* CHUNKED_DATA is handled above; the others end the loop. */
			break;
		}
		if (r != HTTP_CHUNKED_MORE) {
			if (r == HTTP_CHUNKED_DONE)
				i++;
			break;
		}
		i++;
	}
	*consumed = i;
	return r;
}

/* ---------------------------------------------------------------- helpers */

static enum http_chunked_result stop(struct http_chunked *d, enum http_chunked_state state, const char *reason)
{
	d->state = state;
	d->reason = reason;
	return result_of(state);
}

static enum http_chunked_result result_of(enum http_chunked_state state)
{
	switch (state) {
	case CHUNKED_DONE:
		return HTTP_CHUNKED_DONE;
	case CHUNKED_BAD:
		return HTTP_CHUNKED_BAD;
	case CHUNKED_TOO_LARGE:
		return HTTP_CHUNKED_TOO_LARGE;
	case CHUNKED_STOPPED:
		return HTTP_CHUNKED_STOPPED;
	default:
		return HTTP_CHUNKED_MORE;
	}
}

/* CTL as RFC 5234 has it, less HTAB, which field values and quoted
 * strings allow. */
static bool is_ctl(unsigned char c)
{
	return (c < 0x20 && c != '\t') || c == 0x7f;
}

/* The states that read a chunk line before its CR, which the line cap
 * counts. */
static bool in_line(enum http_chunked_state state)
{
	return state <= CHUNKED_EXT_QUOTED_END;
}

static bool in_trailer(enum http_chunked_state state)
{
	return state >= CHUNKED_TRAILER_START && state <= CHUNKED_END_LF;
}
