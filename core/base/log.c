/* Line-oriented logging shared by all threads. Formatting happens in a
 * stack buffer and the line leaves in one write(2), which O_APPEND keeps
 * whole even when several threads and processes share the file. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 4096

static atomic_int log_fd = 2;
static atomic_int log_level = LOG_LEVEL_INFO;
static atomic_bool access_on = true;

static const char *level_names[] = {"debug", "info", "warn", "error"};

static size_t format_time(char *buf, size_t len);
static void emit(char *line, size_t n);

int log_configure(const struct config *cfg, char *err, size_t errlen)
{
	if (cfg->log_file[0]) {
		int fd = open(cfg->log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
		if (fd < 0) {
			snprintf(err, errlen, "log_file %s: %s", cfg->log_file, strerror(errno));
			return -1;
		}
		int old = atomic_load(&log_fd);
		if (old != 2) {
			/* dup2 swaps the file under the same descriptor number, so
			 * a thread mid-write never writes to a closed descriptor. */
			dup2(fd, old);
			close(fd);
		} else {
			atomic_store(&log_fd, fd);
		}
	}
	atomic_store(&log_level, (int)cfg->log_level);
	atomic_store(&access_on, cfg->access_log);
	return 0;
}

static bool log_enabled(int level)
{
	return level >= atomic_load_explicit(&log_level, memory_order_relaxed);
}

void log_msg(int level, const char *req_id, const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	va_list ap;
	if (!log_enabled(level))
		return;
	size_t n = format_time(line, sizeof(line));
	int w = snprintf(line + n, sizeof(line) - n, " %s ", level_names[level]);
	n += (size_t)w;
	if (req_id) {
		w = snprintf(line + n, sizeof(line) - n, "id=%s ", req_id);
		n += (size_t)w;
	}
	va_start(ap, fmt);
	w = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	if (w < 0)
		w = 0;
	n += (size_t)w;
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	/* A message never spans lines: control characters become spaces. */
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)line[i] < 0x20)
			line[i] = ' ';
	line[n++] = '\n';
	emit(line, n);
}

void log_access(const struct log_access *a)
{
	char line[LOG_LINE_MAX];
	char path[1024];
	if (!atomic_load_explicit(&access_on, memory_order_relaxed))
		return;
	log_strip_query(a->path, a->path_len, path, sizeof(path));
	size_t n = format_time(line, sizeof(line));
	int w = snprintf(line + n, sizeof(line) - n,
			 " access id=%s tenant=%s method=%s path=%s status=%d bytes=%llu ms=%.3f\n",
			 a->req_id, a->tenant ? a->tenant : "-", a->method, path, a->status,
			 (unsigned long long)a->bytes, a->duration_ms);
	if (w < 0)
		return;
	n += (size_t)w;
	if (n >= sizeof(line)) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	emit(line, n);
}

size_t log_strip_query(const char *target, size_t len, char *out, size_t outlen)
{
	size_t o = 0;
	bool in_query = false, in_value = false;
	if (outlen == 0)
		return 0;
	for (size_t i = 0; i < len && o + 2 < outlen; i++) {
		unsigned char ch = (unsigned char)target[i];
		if (ch == '#')
			break;
		if (!in_query && ch == '?') {
			in_query = true;
			out[o++] = '?';
			continue;
		}
		if (in_query) {
			if (ch == '&') {
				if (!in_value && o > 0 && out[o - 1] != '?' && out[o - 1] != '&')
					out[o++] = '=';
				in_value = false;
				out[o++] = '&';
				continue;
			}
			if (ch == '=') {
				if (!in_value)
					out[o++] = '=';
				in_value = true;
				continue;
			}
			if (in_value)
				continue;
		}
		/* Keep log lines parseable: no spaces or controls. */
		out[o++] = (ch <= 0x20 || ch >= 0x7f) ? '?' : (char)ch;
	}
	if (in_query && !in_value && o > 0 && out[o - 1] != '?' && out[o - 1] != '&' && o + 1 < outlen)
		out[o++] = '=';
	out[o] = '\0';
	return o;
}

static size_t format_time(char *buf, size_t len)
{
	struct timeval tv;
	struct tm tm;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	int w = snprintf(buf + n, len - n, ".%03dZ", (int)(tv.tv_usec / 1000));
	return n + (size_t)(w > 0 ? w : 0);
}

static void emit(char *line, size_t n)
{
	int fd = atomic_load_explicit(&log_fd, memory_order_relaxed);
	while (n > 0) {
		ssize_t w = write(fd, line, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		line += w;
		n -= (size_t)w;
	}
}
