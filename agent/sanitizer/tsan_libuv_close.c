/* Linked into every executable of a ThreadSanitizer build (OSPREY_SANITIZE=thread), never into a
 * release build.
 *
 * Why: Debian's libuv closes every descriptor it owns with syscall(SYS_close) (uv__close_nocancel;
 * `nm -D libuv.so.1` imports no close()), which TSan does not intercept. TSan then believes a
 * libuv descriptor stays open after libuv closed it, and when the kernel hands the same number to
 * open() on the other loop thread it reports a data race on the descriptor itself, in no memory of
 * ours (seen in CI: uv_spawn's stdio socketpair for an alarm action on the exporter thread vs.
 * procfs open() on the collector thread). Routing libuv's close through the intercepted close()
 * keeps TSan's descriptor model right instead of suppressing reports, so real races still show.
 *
 * Contract: same behaviour as glibc's syscall() for every number; SYS_close goes through close(),
 * which on Linux differs only in being a cancellation point (Osprey never cancels threads). */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef long (*syscall_fn)(long, ...);

long syscall(long number, ...)
{
    /* glibc's syscall() reads six argument registers whatever the number; so does this. */
    va_list ap;
    long arg[6];
    va_start(ap, number);
    for (int i = 0; i < 6; i++)
        arg[i] = va_arg(ap, long);
    va_end(ap);
    if (number == SYS_close)
        return close((int)arg[0]);

    static _Atomic(syscall_fn) next_syscall;
    syscall_fn next = atomic_load_explicit(&next_syscall, memory_order_relaxed);
    if (!next) {
        next = (syscall_fn)dlsym(RTLD_NEXT, "syscall");
        atomic_store_explicit(&next_syscall, next, memory_order_relaxed);
    }
    return next(number, arg[0], arg[1], arg[2], arg[3], arg[4], arg[5]);
}
