/* Runs every file of a corpus directory through LLVMFuzzerTestOneInput
 * once: the seed corpus as a regression test in every build, without
 * libFuzzer (which needs clang). A corpus that is missing or empty, or an
 * entry that cannot be read whole, fails the run: a replay that ran
 * nothing has shown nothing. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int replay_file(const char *path);

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
		return 2;
	}
	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	DIR *d = opendir(argv[1]);
	if (!d) {
		perror(argv[1]);
		return 1;
	}
	struct dirent *e;
	int n = 0, bad = 0;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char path[4096];
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", argv[1], e->d_name) >= sizeof(path)) {
			fprintf(stderr, "%s/%s: path too long\n", argv[1], e->d_name);
			bad++;
			continue;
		}
		if (replay_file(path) != 0) {
			bad++;
			continue;
		}
		n++;
	}
	closedir(d);
	printf("replayed %d inputs from %s\n", n, argv[1]);
	if (n == 0)
		fprintf(stderr, "%s: no input replayed\n", argv[1]);
	return n > 0 && bad == 0 ? 0 : 1;
}

/* Feeds one regular file to the target; -1 (with the reason on stderr)
 * when it is not one or cannot be read whole. */
static int replay_file(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
		fprintf(stderr, "%s: not a regular file\n", path);
		return -1;
	}
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		return -1;
	}
	size_t len = (size_t)st.st_size;
	uint8_t *buf = malloc(len > 0 ? len : 1);
	int rc = -1;
	if (!buf)
		fprintf(stderr, "%s: out of memory\n", path);
	else if (fread(buf, 1, len, f) != len || fgetc(f) != EOF)
		fprintf(stderr, "%s: not read whole\n", path);
	else
		rc = 0;
	fclose(f);
	if (rc == 0 && LLVMFuzzerTestOneInput(buf, len) != 0) {
		fprintf(stderr, "%s: the target returned non-zero\n", path);
		rc = -1;
	}
	free(buf);
	return rc;
}
