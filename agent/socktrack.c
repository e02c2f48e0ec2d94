// SPDX-License-Identifier: MIT
#include "socktrack.h"

#include <bpf/bpf.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "events.h"
#include "hashmap.h"

#define TCP_LISTEN 0x0A

struct inet_sock {
	uint16_t local_port;
	uint16_t remote_port;
	uint8_t family;
};

/* /proc/net/tcp line: "sl local rem st tx:rx tr:tm retrnsmt uid timeout inode ..." */
static int read_proc_net(const char *proc_root, const char *file, uint8_t family,
			 struct psc_hashmap *by_inode)
{
	char path[256], line[512];
	_cleanup_fclose_ FILE *f = NULL;

	snprintf(path, sizeof(path), "%s/net/%s", proc_root, file);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	if (!fgets(line, sizeof(line), f)) /* header */
		return 0;
	while (fgets(line, sizeof(line), f)) {
		char local[64], remote[64];
		unsigned state;
		unsigned long inode;
		if (sscanf(line, "%*s %63s %63s %x %*s %*s %*s %*s %*s %lu", local, remote, &state,
			   &inode) != 4 || inode == 0)
			continue;
		if (state == TCP_LISTEN && strncmp(file, "tcp", 3) == 0)
			continue;
		char *lp = strrchr(local, ':'), *rp = strrchr(remote, ':');
		if (!lp || !rp)
			continue;
		struct inet_sock *s = calloc(1, sizeof(*s));
		if (!s)
			return -ENOMEM;
		s->local_port = (uint16_t)strtoul(lp + 1, NULL, 16);
		s->remote_port = (uint16_t)strtoul(rp + 1, NULL, 16);
		s->family = family;
		if (psc_hashmap_put(by_inode, inode, s) < 0) {
			free(s);
			return -ENOMEM;
		}
	}
	return 0;
}

static uint32_t *filter_slot(uint32_t *tgid_filter, uint32_t tgid)
{
	return &tgid_filter[tgid & (PSC_TGID_SLOTS - 1)];
}

static void add_socket(const struct psc_socktable *t, uint32_t tgid, uint32_t fd,
		       const struct inet_sock *s, int *added)
{
	struct psc_sock_info info = {
		.local_port = s->local_port,
		.remote_port = s->remote_port,
		.role = PSC_ROLE_UNKNOWN,
		.family = s->family,
	};
	/* __u64: the slot's type (events.h); clang refuses uint64_t * for __u64 *. */
	__u64 key = (__u64)tgid << 32 | fd, free_key = 0;
	struct psc_sock_slot *slot = &t->slots[psc_sock_slot_of(key)];

	/* As the kernel does (capture.bpf.c, sock_insert): claim the slot, then fill it. */
	if (__atomic_load_n(&slot->key, __ATOMIC_SEQ_CST) == key)
		return;
	if (__atomic_compare_exchange_n(&slot->key, &free_key, key, false, __ATOMIC_SEQ_CST,
					__ATOMIC_SEQ_CST)) {
		slot->info = info;
	} else if (bpf_map_update_elem(t->overflow_fd, &key, &info, BPF_NOEXIST) == 0) {
		__atomic_fetch_add(t->overflow, 1, __ATOMIC_SEQ_CST);
	} else {
		return;
	}
	(*added)++;
	__atomic_fetch_add(filter_slot(t->tgid_filter, tgid), 1, __ATOMIC_SEQ_CST);
}

static void scan_process(const struct psc_socktable *t, const char *proc_root, uint32_t tgid,
			 struct psc_hashmap *by_inode, int *added)
{
	char dir[256];
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;

	snprintf(dir, sizeof(dir), "%s/%u/fd", proc_root, tgid);
	d = opendir(dir);
	if (!d)
		return; /* exited, or a kernel thread */
	while ((de = readdir(d))) {
		char link[64], target[64];
		unsigned long inode;
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(link, sizeof(link), "%.20s", de->d_name);
		ssize_t n = readlinkat(dirfd(d), link, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (sscanf(target, "socket:[%lu]", &inode) != 1)
			continue;
		const struct inet_sock *s = psc_hashmap_get(by_inode, inode);
		if (s)
			add_socket(t, tgid, (uint32_t)atoi(de->d_name), s, added);
	}
}

int psc_socktrack_seed(const struct psc_socktable *t, const char *proc_root, uint32_t self_tgid)
{
	static const struct {
		const char *file;
		uint8_t family;
	} tables[] = { { "tcp", 2 }, { "tcp6", 10 }, { "udp", 2 }, { "udp6", 10 } };
	struct psc_hashmap *by_inode = NULL;
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	int added = 0, r;

	r = psc_hashmap_new(&by_inode);
	if (r < 0)
		return r;
	for (size_t i = 0; i < PSC_ARRAY_SIZE(tables); i++)
		read_proc_net(proc_root, tables[i].file, tables[i].family, by_inode);
	d = opendir(proc_root);
	if (!d) {
		r = -errno;
		goto out;
	}
	while ((de = readdir(d))) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		uint32_t tgid = (uint32_t)strtoul(de->d_name, NULL, 10);
		if (tgid != self_tgid)
			scan_process(t, proc_root, tgid, by_inode, &added);
	}
	r = added;
out:;
	size_t it = 0;
	uint64_t key;
	void *v;
	while (psc_hashmap_next(by_inode, &it, &key, &v))
		free(v);
	psc_hashmap_free(&by_inode);
	return r;
}

bool psc_tgid_alive(uint32_t tgid, void *unused)
{
	return kill((pid_t)tgid, 0) == 0 || errno != ESRCH;
}

int psc_socktrack_sweep(const struct psc_socktable *t)
{
	uint64_t key, next, *dead = NULL;
	size_t n_dead = 0, cap = 0;
	void *prev = NULL;
	int deleted = 0;

	for (uint32_t i = 0; i < PSC_SOCK_SLOTS; i++) {
		key = __atomic_load_n(&t->slots[i].key, __ATOMIC_SEQ_CST);
		if (!key || psc_tgid_alive((uint32_t)(key >> 32), NULL))
			continue;
		/* Only if still that key: the kernel may have reused the slot meanwhile. */
		__u64 expected = key;
		if (!__atomic_compare_exchange_n(&t->slots[i].key, &expected, 0, false,
						 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
			continue;
		deleted++;
		__atomic_fetch_sub(filter_slot(t->tgid_filter, (uint32_t)(key >> 32)), 1,
				   __ATOMIC_SEQ_CST);
	}
	if (__atomic_load_n(t->overflow, __ATOMIC_SEQ_CST) == 0)
		return deleted;
	while (bpf_map_get_next_key(t->overflow_fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (psc_tgid_alive((uint32_t)(key >> 32), NULL))
			continue;
		if (n_dead == cap) {
			size_t ncap = cap ? cap * 2 : 256;
			uint64_t *nd = realloc(dead, ncap * sizeof(*nd));
			if (!nd)
				break;
			dead = nd;
			cap = ncap;
		}
		dead[n_dead++] = key;
	}
	for (size_t i = 0; i < n_dead; i++) {
		if (bpf_map_delete_elem(t->overflow_fd, &dead[i]) != 0)
			continue;
		deleted++;
		__atomic_fetch_sub(t->overflow, 1, __ATOMIC_SEQ_CST);
		__atomic_fetch_sub(filter_slot(t->tgid_filter, (uint32_t)(dead[i] >> 32)), 1,
				   __ATOMIC_SEQ_CST);
	}
	free(dead);
	return deleted;
}
