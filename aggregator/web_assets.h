/* SPDX-License-Identifier: MIT */
/* The web dashboard's static files, compiled into the aggregator (no files to install, no
 * internet at run time). cmake/embed.cmake generates the table from aggregator/web/ and the
 * plotting library npm fetched at build time; metrics.c serves it at / and /static/<path>. */
#pragma once

#include <stddef.h>

struct psc_web_asset {
	const char *path;	   /* base name, e.g. "app.js" */
	const char *mime;	   /* Content-Type, with charset for text */
	const unsigned char *data; /* @len bytes, then a NUL (not counted) */
	size_t len;
	const char *etag; /* quoted strong validator from the content's hash */
};

/* Generated: every embedded file, in no particular order. */
extern const struct psc_web_asset psc_web_assets[];
extern const size_t psc_web_assets_count;

/* The asset served at "/static/@path" (@path without the prefix, e.g. "app.js"), or NULL
 * if none: only exact base names match, so "../x", "a/b" and "" never do. The returned
 * asset is static, never freed. */
const struct psc_web_asset *psc_web_asset_find(const char *path);
