/*
 * cordon.h — write Cordon tools in C.
 *
 * A tool is a WASI 0.2 component whose world includes cordon:tool/tool. `cordon build`
 * generates the world's bindings (bindings/WORLD.h, with `wit-bindgen c`), compiles the .c files
 * in src/ with clang for wasm32-wasi with this directory on the include path, and makes the
 * component. This header gives a tool the conventions callers rely on:
 *
 *   - cordon_error: an error with a kind callers can branch on, for functions declared
 *     `-> result<T, string>`; the host reports it as tool_error with the text
 *     "kind: message" (the same text the Rust, Python and JavaScript SDKs write);
 *   - cordon_log_*: structured records that land in the call's outcome and audit trail,
 *     never on a stream the tool controls.
 *
 * The error part is plain C, so a tool's logic can use it in tests that run on the host.
 * The parts that call the host need the bindings: define CORDON_WORLD as the world's C
 * name and include the bindings first:
 *
 *     #include "demo.h"
 *     #define CORDON_WORLD demo
 *     #include <cordon.h>
 */
#ifndef CORDON_H
#define CORDON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* What kind of failure a tool reports: the word before the colon in the error text. */
typedef enum {
    CORDON_INVALID_INPUT, /* the arguments were wrong; the same ones fail the same way */
    CORDON_NOT_FOUND,     /* something the arguments name does not exist */
    CORDON_UNSUPPORTED,   /* the tool cannot do this (a format or feature it lacks) */
    CORDON_FAILED,        /* the tool failed for a reason of its own */
} cordon_error_kind;

/* An error a tool returns. The message is for people and models; it is cut, not
 * overflowed, at its capacity. */
typedef struct {
    cordon_error_kind kind;
    char message[512];
} cordon_error;

/* The kind as callers see it: invalid_input, not_found, unsupported, failed. */
static inline const char *cordon_error_kind_code(cordon_error_kind kind) {
    switch (kind) {
    case CORDON_INVALID_INPUT: return "invalid_input";
    case CORDON_NOT_FOUND: return "not_found";
    case CORDON_UNSUPPORTED: return "unsupported";
    default: return "failed";
    }
}

__attribute__((format(printf, 3, 4)))
static inline void cordon_error_set(cordon_error *err, cordon_error_kind kind, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    err->kind = kind;
    vsnprintf(err->message, sizeof err->message, fmt, args);
    va_end(args);
}

#ifdef CORDON_WORLD
/* The generated names carry the world's name: demo_string_t, demo_string_dup, ... */
#define CORDON_CAT_(a, b) a##b
#define CORDON_CAT(a, b) CORDON_CAT_(a, b)
#define CORDON_STRING_T CORDON_CAT(CORDON_WORLD, _string_t)
#define CORDON_FIELDS_T CORDON_CAT(CORDON_WORLD, _list_tuple2_string_string_t)
#define CORDON_FIELD_T CORDON_CAT(CORDON_WORLD, _tuple2_string_string_t)

/* Writes "kind: message" into a WIT result's err string (the generated code frees it
 * after the call). */
static inline void cordon_error_into(const cordon_error *err, CORDON_STRING_T *out) {
    char text[sizeof err->message + 32];
    int n = snprintf(text, sizeof text, "%s: %s", cordon_error_kind_code(err->kind), err->message);
    CORDON_CAT(CORDON_WORLD, _string_dup_n)(out, text, (size_t)n < sizeof text ? (size_t)n : sizeof text - 1);
}

/* One record to the host: `nfields` key/value pairs, keys[i] = values[i]. The host copies
 * what it needs, so the strings are only borrowed. */
static inline void cordon_log(cordon_tool_logging_level_t level, const char *message,
                              size_t nfields, const char *const *keys, const char *const *values) {
    CORDON_FIELD_T pairs[nfields ? nfields : 1];
    for (size_t i = 0; i < nfields; i++) {
        CORDON_CAT(CORDON_WORLD, _string_set)(&pairs[i].f0, keys[i]);
        CORDON_CAT(CORDON_WORLD, _string_set)(&pairs[i].f1, values[i]);
    }
    CORDON_STRING_T text;
    CORDON_CAT(CORDON_WORLD, _string_set)(&text, message);
    CORDON_FIELDS_T fields = {pairs, nfields};
    cordon_tool_logging_log(level, &text, &fields);
}

/* A record with no fields, or with one key and value: the common cases. */
#define cordon_log_trace(message) cordon_log(CORDON_TOOL_LOGGING_LEVEL_TRACE, message, 0, NULL, NULL)
#define cordon_log_debug(message) cordon_log(CORDON_TOOL_LOGGING_LEVEL_DEBUG, message, 0, NULL, NULL)
#define cordon_log_info(message) cordon_log(CORDON_TOOL_LOGGING_LEVEL_INFO, message, 0, NULL, NULL)
#define cordon_log_warn(message) cordon_log(CORDON_TOOL_LOGGING_LEVEL_WARN, message, 0, NULL, NULL)
#define cordon_log_error(message) cordon_log(CORDON_TOOL_LOGGING_LEVEL_ERROR, message, 0, NULL, NULL)
#define cordon_log1(level, message, key, value)                                          \
    do {                                                                                 \
        const char *cordon_key_ = (key), *cordon_value_ = (value);                       \
        cordon_log(CORDON_CAT(CORDON_TOOL_LOGGING_LEVEL_, level), message, 1, &cordon_key_, \
                   &cordon_value_);                                                      \
    } while (0)
#endif /* CORDON_WORLD */

#endif /* CORDON_H */
