/*
 * alarm_cli: `osprey alarms list|wait|test|export` (see alarm_cli.c for the commands and
 * their exit codes). Runs on the main thread of a short-lived process; reads the state
 * file the agent writes and the configuration, never talks to a running agent.
 */
#ifndef OSPREY_ALARM_CLI_H
#define OSPREY_ALARM_CLI_H

/* argv[0] is "alarms"; returns the process exit code. */
int alarm_cli_main(int argc, char **argv);

#endif
