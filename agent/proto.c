// SPDX-License-Identifier: MIT
#include "proto.h"

#include <string.h>

static const char *const proto_names[_PSC_PROTO_MAX] = {
	[PSC_PROTO_UNKNOWN] = "tcp",	 [PSC_PROTO_HTTP] = "http",   [PSC_PROTO_PG] = "postgres",
	[PSC_PROTO_MYSQL] = "mysql",	 [PSC_PROTO_REDIS] = "redis", [PSC_PROTO_DNS] = "dns",
};

const char *psc_proto_name(enum psc_proto proto)
{
	if ((unsigned)proto >= _PSC_PROTO_MAX)
		return "tcp";
	return proto_names[proto];
}

size_t psc_endpoint_copy(char *dst, const char *src, size_t n)
{
	size_t i;

	if (n > PSC_ENDPOINT_MAX - 1)
		n = PSC_ENDPOINT_MAX - 1;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)src[i];
		dst[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	dst[i] = '\0';
	return i;
}
