// SPDX-License-Identifier: MIT
/* prescient-replay: runs the aggregator's modeling engine over recorded series. */
#include <stdio.h>
#include <string.h>

#include "cleanup.h"
#include "replay.h"

static const struct psc_replay_cmd *const cmds[] = {
	&psc_replay_detect_cmd,
	&psc_replay_forecast_cmd,
	&psc_replay_cluster_cmd,
	&psc_replay_profile_cmd,
	&psc_replay_nab_cmd,
	&psc_replay_size_cmd,
};

static void help(void)
{
	printf("Usage: prescient-replay COMMAND [OPTIONS] INPUT\n"
	       "\n"
	       "Runs prescient's modeling engine (the aggregator's code) offline over recorded\n"
	       "series, for evaluation, tuning and demos.\n"
	       "\n"
	       "Commands:\n");
	for (size_t i = 0; i < PSC_ARRAY_SIZE(cmds); i++)
		printf("  %-10s %s\n", cmds[i]->name, cmds[i]->summary);
	printf("\n"
	       "Input: CSV with a header, a 'timestamp' column ('YYYY-MM-DD HH:MM:SS' UTC, or Unix\n"
	       "seconds) and a 'value' column (or --column NAME); ',', ';' (Bitbrains, with tabs)\n"
	       "or tab separated. The sampling interval is inferred (median spacing).\n"
	       "Repairs (warned on stderr, refused with --strict): a row whose timestamp repeats\n"
	       "or goes back (at most 1%% of the rows; more is an error) is kept as the next step;\n"
	       "gaps are filled inside the models by their own forecast and never printed.\n"
	       "Unparsable fields, missing columns or unsorted input are errors naming the line.\n"
	       "Outputs echo each row's timestamp and value as written.\n"
	       "\n"
	       "Exit status: 0 success, 1 bad input, 2 usage error.\n"
	       "Run 'prescient-replay COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return psc_replay_usage_error(NULL, "missing command");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		help();
		return PSC_REPLAY_OK;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("prescient-replay %s\n", PSC_VERSION);
		return PSC_REPLAY_OK;
	}
	for (size_t i = 0; i < PSC_ARRAY_SIZE(cmds); i++)
		if (!strcmp(argv[1], cmds[i]->name))
			return cmds[i]->run(argc - 1, argv + 1);
	return psc_replay_usage_error(NULL, "unknown command '%s'", argv[1]);
}
