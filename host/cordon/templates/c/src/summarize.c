// `{{name}}`: summarises CSV tables. Written by `cordon new tool {{name}} --lang c`; make it
// yours. src/tool.c binds it to the world in wit/world.wit.
#include "summarize.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

// One field or line: a view into the input, never copied until kept.
typedef struct {
    const char *at;
    size_t len;
} slice;

static slice trim(slice s) {
    while (s.len && isspace((unsigned char)s.at[0])) s.at++, s.len--;
    while (s.len && isspace((unsigned char)s.at[s.len - 1])) s.len--;
    return s;
}

// The next line of `rest` that is not blank; false at the end.
static bool next_line(slice *rest, slice *line) {
    while (rest->len) {
        const char *nl = memchr(rest->at, '\n', rest->len);
        size_t n = nl ? (size_t)(nl - rest->at) : rest->len;
        *line = (slice){rest->at, n};
        rest->at += nl ? n + 1 : n;
        rest->len -= nl ? n + 1 : n;
        if (trim(*line).len) return true;
    }
    return false;
}

static size_t count_fields(slice line) {
    size_t n = 1;
    for (size_t i = 0; i < line.len; i++) n += line.at[i] == ',';
    return n;
}

// Field `*pos` onwards up to the next comma, trimmed; advances `*pos` past the comma.
static slice next_field(slice line, size_t *pos) {
    size_t start = *pos, end = start;
    while (end < line.len && line.at[end] != ',') end++;
    *pos = end + 1;
    return trim((slice){line.at + start, end - start});
}

static bool parse_number(slice s, double *out) {
    char buf[64];
    if (s.len == 0 || s.len >= sizeof buf) return false;
    memcpy(buf, s.at, s.len);
    buf[s.len] = 0;
    // Decimal only, as a reader of a table would expect: no hex floats.
    if (strchr(buf, 'x') || strchr(buf, 'X')) return false;
    char *end;
    *out = strtod(buf, &end);
    return *end == 0;
}

bool summarize_csv(const char *csv, size_t len, table_summary *out, cordon_error *err) {
    slice rest = {csv, len}, line;
    if (!next_line(&rest, &line)) {
        cordon_error_set(err, CORDON_INVALID_INPUT, "the table is empty");
        return false;
    }
    size_t ncolumns = count_fields(line);
    column_summary *columns = calloc(ncolumns, sizeof *columns);
    double *sums = calloc(ncolumns, sizeof *sums);
    if (!columns || !sums) abort();
    size_t pos = 0;
    for (size_t c = 0; c < ncolumns; c++) {
        slice name = next_field(line, &pos);
        columns[c].name = strndup(name.at, name.len);
        columns[c].numeric = true;
        columns[c].stats = (numeric_stats){INFINITY, -INFINITY, 0};
    }
    uint32_t rows = 0;
    while (next_line(&rest, &line)) {
        size_t fields = count_fields(line);
        if (fields != ncolumns) {
            cordon_error_set(err, CORDON_INVALID_INPUT, "row %u has %zu fields, the header %zu",
                             rows + 1, fields, ncolumns);
            table_summary failed = {0, ncolumns, columns};
            table_summary_free(&failed);
            free(sums);
            return false;
        }
        rows++;
        pos = 0;
        for (size_t c = 0; c < ncolumns; c++) {
            slice field = next_field(line, &pos);
            if (field.len == 0) continue;
            columns[c].filled++;
            double n;
            if (!columns[c].numeric) continue;
            if (!parse_number(field, &n)) {
                columns[c].numeric = false;
                continue;
            }
            sums[c] += n;
            columns[c].stats.min = fmin(columns[c].stats.min, n);
            columns[c].stats.max = fmax(columns[c].stats.max, n);
        }
    }
    for (size_t c = 0; c < ncolumns; c++) {
        // A column with no values at all has no statistics either.
        columns[c].numeric = columns[c].numeric && columns[c].filled > 0;
        if (columns[c].numeric) columns[c].stats.mean = sums[c] / columns[c].filled;
    }
    free(sums);
    *out = (table_summary){rows, ncolumns, columns};
    return true;
}

void table_summary_free(table_summary *summary) {
    for (size_t c = 0; c < summary->ncolumns; c++) free(summary->columns[c].name);
    free(summary->columns);
    summary->columns = NULL;
    summary->ncolumns = 0;
}
