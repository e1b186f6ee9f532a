/* `aantafel jobs …`: the scheduler's jobs as the provider sees them. */
#ifndef AANTAFEL_JOBS_CMD_H
#define AANTAFEL_JOBS_CMD_H

int jobs_cmd(int argc, char **argv, const char *config_path);
extern const char jobs_cmd_usage[];

#endif
