// Binds src/summarize.c to the world in wit/world.wit: WIT values in, WIT values out.
// The generated bindings are in bindings/ (rewritten by every `cordon build`).
#include "{{ident}}.h"
#define CORDON_WORLD {{ident}}
#include <cordon.h>

#include <stdio.h>
#include <stdlib.h>

#include "summarize.h"

// The export: `summarize: func(csv: string) -> result<summary, string>`. Arguments are
// ours to free; what we return is freed by the bindings after the host has read it.
bool exports_{{ident}}_summarize({{ident}}_string_t *csv, {{ident}}_summary_t *ret,
                                 {{ident}}_string_t *err) {
    table_summary summary;
    cordon_error failure;
    bool ok = summarize_csv((const char *)csv->ptr, csv->len, &summary, &failure);
    {{ident}}_string_free(csv);
    if (!ok) {
        cordon_error_into(&failure, err);
        return false;
    }
    ret->rows = summary.rows;
    ret->columns.len = summary.ncolumns;
    ret->columns.ptr = calloc(summary.ncolumns, sizeof *ret->columns.ptr);
    for (size_t c = 0; c < summary.ncolumns; c++) {
        {{ident}}_column_t *column = &ret->columns.ptr[c];
        {{ident}}_string_dup(&column->name, summary.columns[c].name);
        column->filled = summary.columns[c].filled;
        column->numeric.is_some = summary.columns[c].numeric;
        column->numeric.val = ({{ident}}_numeric_stats_t){
            summary.columns[c].stats.min, summary.columns[c].stats.max,
            summary.columns[c].stats.mean};
    }
    char rows[16];
    snprintf(rows, sizeof rows, "%u", summary.rows);
    cordon_log1(INFO, "summarised a table", "rows", rows);
    table_summary_free(&summary);
    return true;
}
