/* `aantafel user …`: accounts made from the command line, such as a
 * municipality's first administrator. */
#ifndef AANTAFEL_USER_CMD_H
#define AANTAFEL_USER_CMD_H

int user_cmd(int argc, char **argv, const char *config_path);
extern const char user_cmd_usage[];

#endif
