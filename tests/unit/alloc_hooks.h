/*
 * alloc_hooks: "a scrape allocates nothing after warm-up", measured in the collector unit
 * tests. Under AddressSanitizer (the project's test build) every malloc reaches a hook the
 * sanitizer runtime calls; tests set `counting` only while their loop runs, so their own
 * file juggling is not counted. Without ASan ALLOC_COUNTING is 0 and the check is skipped,
 * not faked.
 *
 * Contract: test code only; include once per test binary; single-threaded.
 */
#ifndef OSPREY_TEST_ALLOC_HOOKS_H
#define OSPREY_TEST_ALLOC_HOOKS_H

#include <stdbool.h>
#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__)
#define ALLOC_COUNTING 1
int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void *, size_t),
                                              void (*free_hook)(const volatile void *));
#else
#define ALLOC_COUNTING 0
#endif

static __attribute__((unused)) bool counting;
static __attribute__((unused)) size_t allocations;

#if ALLOC_COUNTING
static void on_malloc(const volatile void *ptr, size_t size)
{
    (void)ptr;
    (void)size;
    if (counting)
        allocations++;
}

static void on_free(const volatile void *ptr)
{
    (void)ptr;
}
#endif

static inline void alloc_counting_install(void)
{
#if ALLOC_COUNTING
    static bool installed;
    if (!installed)
        assert_true(__sanitizer_install_malloc_and_free_hooks(on_malloc, on_free) != 0);
    installed = true;
#endif
}

#endif
