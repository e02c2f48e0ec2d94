// SPDX-License-Identifier: MIT
#include "web_assets.h"

#include <string.h>

const struct psc_web_asset *psc_web_asset_find(const char *path)
{
	if (!path || !*path || strchr(path, '/'))
		return NULL;
	for (size_t i = 0; i < psc_web_assets_count; i++)
		if (strcmp(psc_web_assets[i].path, path) == 0)
			return &psc_web_assets[i];
	return NULL;
}
