/*
 * procfs_net: pure parsers for /proc/net/dev (per-interface traffic counters) and for
 * the socket tables /proc/net/{tcp,tcp6,udp,udp6} (one line per socket), plus one I/O
 * helper that streams a socket table through a fixed caller-owned chunk.
 *
 * Contract
 * - Parsers are pure: they read only their arguments, write only their outputs, never
 *   log, never allocate and are safe on any thread. `buf` need not be NUL-terminated;
 *   `len` bytes are read and nothing past them.
 * - They walk a buffer one line at a time with an offset the caller keeps (`*off`), so a
 *   malformed line is skipped and counted by the caller while the rest is still used.
 *   Each *_next() returns:
 *     1         a line was parsed into the output; *off is past its '\n';
 *     0         no bytes left;
 *     -EBADMSG  the line is not what the kernel writes; *off is past its '\n';
 *     -ENODATA  the bytes left hold no '\n': a line cut short (or, when streaming, one
 *               whose end is in the next chunk); *off is not moved.
 * - The header parsers return 0 with *off at the first data line, -EBADMSG when the
 *   header is not the kernel's (garbage, empty), or -ENODATA when it is cut short.
 * - procfs_net_scan_sockets() is the only function that does I/O: open/read/close of one
 *   socket table through `chunk` (owned by the caller, reused, never grown), so a file of
 *   any size is counted in bounded memory without allocating. Returns 0, -errno from
 *   open/read, -EBADMSG for a bad header, -E2BIG for a line longer than the chunk.
 *   Malformed and cut lines are counted in the result, not returned as errors.
 *
 * Limits: interface names of 1..PROCFS_IFNAME_MAX bytes; socket lines shorter than the
 * caller's chunk (the kernel pads them to 150/178 bytes).
 */
#ifndef OSPREY_PROCFS_NET_H
#define OSPREY_PROCFS_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- /proc/net/dev ---------------------------------------------------------------- */

#define PROCFS_IFNAME_MAX 15 /* IFNAMSIZ - 1 */

/* The columns the CloudWatch agent publishes (telegraf inputs.net over gopsutil's
 * IOCounters), in the order they are stored. Receive columns are the 1st..4th numbers
 * of a line, transmit the 9th..12th (fifo, frame, compressed, multicast, colls, carrier
 * are read past). */
enum procfs_netdev_col {
    PROCFS_NETDEV_RX_BYTES = 0,
    PROCFS_NETDEV_RX_PACKETS,
    PROCFS_NETDEV_RX_ERRS,
    PROCFS_NETDEV_RX_DROP,
    PROCFS_NETDEV_TX_BYTES,
    PROCFS_NETDEV_TX_PACKETS,
    PROCFS_NETDEV_TX_ERRS,
    PROCFS_NETDEV_TX_DROP,
    PROCFS_NETDEV_COL_MAX
};

/* Every kernel since 2.2 prints 16 numbers per interface; later ones would be ignored. */
#define PROCFS_NETDEV_NUMBERS 16

struct procfs_netdev_if {
    char name[PROCFS_IFNAME_MAX + 1]; /* NUL-terminated */
    uint64_t v[PROCFS_NETDEV_COL_MAX];
};

/* The two header lines ("Inter-|   Receive ...", " face |bytes ..."). */
int procfs_netdev_header(const char *buf, size_t len, size_t *off);
/* One "<blanks>name:<numbers>" line. Names are 1..15 bytes of anything but blanks,
 * control characters, ':' and '/' (the kernel's dev_valid_name()). Versions before 2.6
 * print no blank after the colon; both shapes are accepted. */
int procfs_netdev_next(const char *buf, size_t len, size_t *off, struct procfs_netdev_if *ret);

/* ---- /proc/net/{tcp,tcp6,udp,udp6} ---------------------------------------------------- */

/* TCP states as the kernel numbers them (include/net/tcp_states.h), printed in the "st"
 * column as two hex digits. udp reuses the numbers (07 unconnected, 01 connected). */
enum procfs_tcp_state {
    PROCFS_TCP_ESTABLISHED = 1,
    PROCFS_TCP_SYN_SENT,
    PROCFS_TCP_SYN_RECV,
    PROCFS_TCP_FIN_WAIT1,
    PROCFS_TCP_FIN_WAIT2,
    PROCFS_TCP_TIME_WAIT,
    PROCFS_TCP_CLOSE,
    PROCFS_TCP_CLOSE_WAIT,
    PROCFS_TCP_LAST_ACK,
    PROCFS_TCP_LISTEN,
    PROCFS_TCP_CLOSING,
    PROCFS_TCP_STATE_KNOWN_MAX /* 12 and later (NEW_SYN_RECV, BOUND_INACTIVE...) */
};

#define PROCFS_SOCK_STATES 256

/* The "  sl  local_address ..." header line. */
int procfs_sockets_header(const char *buf, size_t len, size_t *off);
/* One socket line "<blanks>N: ADDR:PORT ADDR:PORT ST ...": only the slot, the two
 * address columns (hex, IPv4 or IPv6 width) and the state are checked; the rest of the
 * line is skipped. *ret_state receives the state, 0..255. */
int procfs_sockets_next(const char *buf, size_t len, size_t *off, unsigned *ret_state);

/* What one socket table held. */
struct procfs_sock_scan {
    uint64_t states[PROCFS_SOCK_STATES]; /* sockets per state column value */
    uint64_t sockets;                    /* lines counted (sum of states) */
    uint64_t bad_lines;                  /* lines skipped as malformed */
    uint64_t cut_lines;                  /* a last line without its '\n' */
    uint64_t bytes;                      /* bytes read */
};

/* Add the sockets of `path` to `acc` (which the caller zeroes once per scrape). */
int procfs_net_scan_sockets(const char *path, char *chunk, size_t cap,
                            struct procfs_sock_scan *acc);

#endif
