// The logic's tests, on the host: cc -I src -I SDK src/summarize.c tests/summarize_test.c -lm
// (`cordon build` prints the SDK's directory; docs/sdk-c.md has the line to copy).
#include "summarize.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

static void summarises_a_small_table(void) {
    const char *csv = "city,population\nOslo,709000\nBergen,291000\n";
    table_summary s;
    cordon_error err;
    assert(summarize_csv(csv, strlen(csv), &s, &err));
    assert(s.rows == 2 && s.ncolumns == 2);
    assert(!s.columns[0].numeric);
    assert(s.columns[1].numeric);
    assert(s.columns[1].stats.min == 291000.0 && s.columns[1].stats.max == 709000.0);
    table_summary_free(&s);
}

static void a_ragged_row_is_invalid_input(void) {
    const char *csv = "a,b\n1\n";
    table_summary s;
    cordon_error err;
    assert(!summarize_csv(csv, strlen(csv), &s, &err));
    assert(err.kind == CORDON_INVALID_INPUT);
    assert(strcmp(err.message, "row 1 has 1 fields, the header 2") == 0);
}

int main(void) {
    summarises_a_small_table();
    a_ragged_row_is_invalid_input();
    puts("2 tests passed");
    return 0;
}
