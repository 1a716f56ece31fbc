/*
 * Tests for the log tailer's lost-ack recovery (collectors/tail.c): an event left
 * unanswered for 60 s while later events were answered is presumed lost (the agent's ack
 * queue can overflow) and its file is read again from it, so the checkpoint never stays
 * stuck. One test, about 62 s long (the timeout is a constant, not a setting).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tail_harness.h"

#define REJ_ACK_TIMEOUT 8 /* collectors/tail.c: "ack_timeout" */

static void test_lost_ack_is_read_again(void **state)
{
    (void)state;
    write_to("app.log", "1\n2\n3\n", false);
    start(ENTRY_APP);
    pump_until(3, 3000);
    ack_range(1, 1, DELIVERY_ACCEPTED);
    ack_range(3, 3, DELIVERY_ACCEPTED); /* the ack of 2 is "lost" */
    run_for_ms(30000);
    assert_int_equal(H.n_got, 3); /* still waiting */
    pump_until(5, 35000);
    EXPECT(3, "2", "3");
    assert_int_equal(H.got[3].cookie, 4);
    assert_int_equal(fine(REJ_ACK_TIMEOUT), 1);
    ack_range(4, 5, DELIVERY_ACCEPTED);
    assert_true(collector_quiescent(H.c));
    stop();
    start(ENTRY_APP);
    run_for_ms(400);
    assert_int_equal(H.n_got, 0);
    stop();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lost_ack_is_read_again, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
