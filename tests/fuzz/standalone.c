// SPDX-License-Identifier: MIT
/* Driver for fuzz targets when libFuzzer is not used (the default build): replays every
 * file of the corpus directories given as arguments, then a deterministic set of
 * mutations of each (bit flips, truncations, random bytes), so that `ctest -L fuzz`
 * exercises every target in any build. Exits non-zero only if a target crashes, which
 * the sanitizers in a PRESCIENT_SANITIZE build turn into a report. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MUTATIONS_PER_FILE 2000
#define FUZZ_MAX_INPUT 65536

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng_next(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void run_mutations(const uint8_t *seed, size_t len)
{
	static uint8_t buf[FUZZ_MAX_INPUT];

	for (int m = 0; m < MUTATIONS_PER_FILE; m++) {
		size_t n = len;
		memcpy(buf, seed, len);
		switch (rng_next() % 4) {
		case 0: /* flip a few bits */
			for (int k = 0; k < 4 && n; k++)
				buf[rng_next() % n] ^= (uint8_t)(1u << (rng_next() % 8));
			break;
		case 1: /* truncate */
			n = n ? rng_next() % n : 0;
			break;
		case 2: /* overwrite a run with random bytes */
			for (int k = 0; k < 16 && n; k++)
				buf[rng_next() % n] = (uint8_t)rng_next();
			break;
		case 3: /* set a byte to an extreme value (lengths, counts) */
			if (n)
				buf[rng_next() % n] = (rng_next() & 1) ? 0xff : 0x00;
			break;
		}
		/* Copy into an exact-size heap buffer so ASan catches any over-read. */
		uint8_t *exact = malloc(n ? n : 1);
		if (!exact)
			abort();
		memcpy(exact, buf, n);
		LLVMFuzzerTestOneInput(exact, n);
		free(exact);
	}
}

static int run_file(const char *path)
{
	static uint8_t buf[FUZZ_MAX_INPUT];
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f) {
		perror(path);
		return -1;
	}
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	uint8_t *exact = malloc(n ? n : 1);
	if (!exact)
		abort();
	memcpy(exact, buf, n);
	LLVMFuzzerTestOneInput(exact, n);
	free(exact);
	run_mutations(buf, n);
	return 0;
}

int main(int argc, char **argv)
{
	int files = 0;

	for (int i = 1; i < argc; i++) {
		DIR *d = opendir(argv[i]);
		struct dirent *de;
		if (!d) {
			fprintf(stderr, "fuzz: cannot open corpus %s\n", argv[i]);
			return 1;
		}
		while ((de = readdir(d))) {
			char path[4096];
			struct stat st;
			snprintf(path, sizeof(path), "%s/%s", argv[i], de->d_name);
			if (stat(path, &st) || !S_ISREG(st.st_mode))
				continue;
			if (run_file(path) == 0)
				files++;
		}
		closedir(d);
	}
	if (files == 0) {
		fprintf(stderr, "fuzz: empty corpus\n");
		return 1;
	}
	printf("fuzz: %d corpus files, %d inputs, no crash\n", files,
	       files * (MUTATIONS_PER_FILE + 1));
	return 0;
}
