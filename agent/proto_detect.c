// SPDX-License-Identifier: MIT
/* Protocol dispatch: the table of parsers and first-head detection. */
#include "proto.h"

static const struct psc_proto_ops *const proto_ops[_PSC_PROTO_MAX] = {
	[PSC_PROTO_HTTP] = &psc_proto_http_ops, [PSC_PROTO_PG] = &psc_proto_pg_ops,
	[PSC_PROTO_MYSQL] = &psc_proto_mysql_ops, [PSC_PROTO_REDIS] = &psc_proto_redis_ops,
	[PSC_PROTO_DNS] = &psc_proto_dns_ops,
};

/* Order of detection when no port hint decides: the text protocols with distinctive
 * first bytes first, binary protocols with weaker signatures last. */
static const enum psc_proto detect_order[] = {
	PSC_PROTO_HTTP, PSC_PROTO_REDIS, PSC_PROTO_PG, PSC_PROTO_MYSQL, PSC_PROTO_DNS,
};

const struct psc_proto_ops *psc_proto_ops_get(enum psc_proto proto)
{
	if ((unsigned)proto >= _PSC_PROTO_MAX)
		return NULL;
	return proto_ops[proto];
}

static enum psc_proto proto_for_port(uint16_t port)
{
	switch (port) {
	case 5432:
		return PSC_PROTO_PG;
	case 3306:
		return PSC_PROTO_MYSQL;
	case 6379:
		return PSC_PROTO_REDIS;
	case 53:
		return PSC_PROTO_DNS;
	case 80:
	case 8080:
		return PSC_PROTO_HTTP;
	default:
		return PSC_PROTO_UNKNOWN;
	}
}

enum psc_proto psc_proto_detect(const uint8_t *buf, size_t len, enum psc_flow flow,
				uint16_t port_hint)
{
	enum psc_proto hinted = proto_for_port(port_hint);

	if (!buf || len == 0)
		return PSC_PROTO_UNKNOWN;
	if (hinted != PSC_PROTO_UNKNOWN && proto_ops[hinted]->detect(buf, len, flow))
		return hinted;
	for (size_t i = 0; i < sizeof(detect_order) / sizeof(detect_order[0]); i++) {
		const struct psc_proto_ops *ops = proto_ops[detect_order[i]];
		if (ops->detect(buf, len, flow))
			return ops->proto;
	}
	return PSC_PROTO_UNKNOWN;
}

