/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Machine-readable output: one writer interface, two formats.
 *
 * JSON is indented by two spaces and ends with a newline; YAML goes through
 * libyaml's emitter (block style, one document). Both carry the same tree.
 *
 * Messages are walked through their protobuf-c descriptors, so every field
 * appears, defaults included (a script sees the same keys every time):
 * field names as in the .proto (snake_case, which proto3's JSON mapping
 * allows printers to keep), enums by name, 64-bit integers as numbers (not
 * strings: counters stay arithmetic in jq), a map<> field as an object, an
 * absent sub-message as null, bytes as base64.
 *
 * Errors are sticky: calls after one do nothing and emit_end() returns it.
 */
#ifndef XLB_CTL_OUTPUT_DOC_H
#define XLB_CTL_OUTPUT_DOC_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <protobuf-c/protobuf-c.h>

enum emit_format {
	EMIT_JSON,
	EMIT_YAML,
};

struct emit;

/* NULL on allocation failure. */
struct emit *emit_begin(enum emit_format fmt, FILE *f);
/* Finishes the document, flushes, frees. 0, or a negative errno with
 * a message in err. */
int emit_end(struct emit *e, char *err, size_t errlen);

void emit_map_begin(struct emit *e);
void emit_map_end(struct emit *e);
void emit_seq_begin(struct emit *e);
void emit_seq_end(struct emit *e);
/* Inside a map, before each value. */
void emit_key(struct emit *e, const char *key);

void emit_str(struct emit *e, const char *s);
void emit_u64(struct emit *e, uint64_t v);
void emit_i64(struct emit *e, int64_t v);
void emit_bool(struct emit *e, bool v);
void emit_null(struct emit *e);

/* A message as a map (NULL: null). */
void emit_message(struct emit *e, const ProtobufCMessage *m);
/* A sequence of messages. */
void emit_messages(struct emit *e, ProtobufCMessage *const *m, size_t n);

#endif /* XLB_CTL_OUTPUT_DOC_H */
