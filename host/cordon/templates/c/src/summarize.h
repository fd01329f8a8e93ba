// The tool's logic in plain C: no bindings, so tests/summarize_test.c runs on the host.
#ifndef SUMMARIZE_H
#define SUMMARIZE_H

#include <cordon.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    double min, max, mean;
} numeric_stats;

typedef struct {
    char *name;        // the header's text, owned
    uint32_t filled;   // rows with a value in this column
    bool numeric;      // every value is a number (and there is one)
    numeric_stats stats;
} column_summary;

typedef struct {
    uint32_t rows;     // data rows, the header not counted
    size_t ncolumns;
    column_summary *columns;
} table_summary;

// Summarises a CSV table: comma-separated, the first line its header, no quoting.
// On failure returns false with `err` set (kind invalid_input) and nothing to free.
bool summarize_csv(const char *csv, size_t len, table_summary *out, cordon_error *err);

void table_summary_free(table_summary *summary);

#endif
