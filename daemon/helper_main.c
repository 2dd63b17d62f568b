/* minetd-helper: minetd's privileged part (see helper.h). Started by systemd through its
 * socket (minetd-helper.socket), or by minetd itself when it runs by hand. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "helper.h"
#include "log.h"

enum { EXIT_USAGE = 2 };

static const char usage[] =
	"Usage: minetd-helper [-c FILE] [--connection FD] [--client-unit UNIT]\n"
	"minetd's privileged part: binds the sockets and starts the programs of the services of\n"
	"FILE for minetd's serving process. Not meant to be run by hand: minetd starts it, or\n"
	"systemd through minetd-helper.socket.\n"
	"\n"
	"  -c, --config FILE       configuration file (default " MINETD_CONFIG_PATH ")\n"
	"      --connection FD     the connection of the minetd that started it\n"
	"      --client-unit UNIT  the unit whose processes may connect (default minetd.service)\n"
	"  -h, --help              print this help and exit\n";

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "connection", required_argument, NULL, 'f' },
		{ "client-unit", required_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct helper_options o = { .config_path = MINETD_CONFIG_PATH, .connection = -1,
				    .client_unit = "minetd.service" };
	char *end;
	int opt;

	while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			o.config_path = optarg;
			break;
		case 'f':
			o.connection = (int)strtol(optarg, &end, 10);
			if (*end || o.connection < 3) {
				fprintf(stderr, "minetd-helper: not a descriptor: '%s'\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'u':
			o.client_unit = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return EXIT_SUCCESS;
		default:
			fputs("Try 'minetd-helper --help'.\n", stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "minetd-helper: unexpected argument '%s'\n", argv[optind]);
		return EXIT_USAGE;
	}
	log_open(LOG_TARGET_AUTO);
	return helper_run(&o);
}
