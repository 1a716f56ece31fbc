/*
 * netaddr: the "host:port" listen addresses of Osprey's listeners.
 *
 * Contract: netaddr_parse() accepts "IPv4:port", "[IPv6]:port" and "localhost:port"
 * (127.0.0.1) with a port of 0..65535, fills *ret and returns 0, or -EINVAL. Host names
 * other than localhost are not resolved (a listener binds an address). Pure; any thread.
 */
#ifndef OSPREY_NETADDR_H
#define OSPREY_NETADDR_H

#include <sys/socket.h>

int netaddr_parse(const char *address, struct sockaddr_storage *ret);

#endif
