/*
 * sd_notify: tell the service manager about start-up, reload and shutdown (systemd's
 * notification protocol for Type=notify units), without linking libsystemd.
 *
 * Contract
 * - sd_notify_send(state) sends `state` ("READY=1", "STOPPING=1", "RELOADING=1\n..."; newline
 *   separated KEY=VALUE assignments) as one datagram to the AF_UNIX socket named by the
 *   NOTIFY_SOCKET environment variable: a path ("/run/systemd/notify") or an abstract name
 *   written with a leading '@' ("@/org/freedesktop/systemd1/notify").
 * - Returns 0 when the datagram was sent, and also when NOTIFY_SOCKET is unset or empty (not
 *   started by a service manager: nothing to tell, which is not an error). Returns -errno
 *   otherwise: -EINVAL for an empty state or a name too long for sockaddr_un,
 *   -EAFNOSUPPORT for a NOTIFY_SOCKET that is neither a path nor '@' (e.g. "vsock:"), or the
 *   errno of socket()/sendto(). Nothing is retried; the caller logs a failure once.
 * - The variable is left set (reload and stop are notified later). Each call opens and closes
 *   its own socket, so there is no state; call it from the collect loop's thread because it
 *   reads the environment, which is not safe while another thread runs setenv().
 */
#ifndef OSPREY_SD_NOTIFY_H
#define OSPREY_SD_NOTIFY_H

int sd_notify_send(const char *state);

#endif
