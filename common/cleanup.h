/* SPDX-License-Identifier: MIT */
/* Scope-bound cleanup helpers (gcc/clang __attribute__((cleanup))).
 * A cleanup variable is always initialised; TAKE_PTR()/TAKE_FD() hand ownership on. */
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <dirent.h>

static inline void psc_freep(void *p)
{
	free(*(void **)p);
}

static inline void psc_closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

static inline void psc_fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

static inline void psc_closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(psc_freep)
#define _cleanup_close_ _cleanup_(psc_closep)
#define _cleanup_fclose_ _cleanup_(psc_fclosep)
#define _cleanup_closedir_ _cleanup_(psc_closedirp)

#define TAKE_PTR(p)                          \
	({                                   \
		__typeof__(p) _ptr_ = (p);   \
		(p) = NULL;                  \
		_ptr_;                       \
	})

#define TAKE_FD(fd)                  \
	({                           \
		int _fd_ = (fd);     \
		(fd) = -1;           \
		_fd_;                \
	})

#define PSC_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define PSC_MIN(a, b) ((a) < (b) ? (a) : (b))
#define PSC_MAX(a, b) ((a) > (b) ? (a) : (b))
