// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "ctl/output_doc.h"

#define EMIT_MAX_DEPTH 64

struct emit {
	enum emit_format fmt;
	FILE *f;
	int err;
	char msg[160];
	/* JSON: items written so far in each open container. */
	size_t depth;
	size_t count[EMIT_MAX_DEPTH];
	bool after_key;
	/* YAML */
	yaml_emitter_t y;
};

static void fail(struct emit *e, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(struct emit *e, int err, const char *fmt, ...)
{
	va_list ap;

	if (e->err)
		return;
	e->err = err;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
}

/* --- YAML through libyaml ------------------------------------------------ */

static void y_emit(struct emit *e, yaml_event_t *ev, bool ok)
{
	if (e->err) {
		if (ok)
			yaml_event_delete(ev);
		return;
	}
	if (!ok) {
		fail(e, -ENOMEM, "yaml: cannot build event");
		return;
	}
	/* yaml_emitter_emit takes the event, on failure too. */
	if (!yaml_emitter_emit(&e->y, ev))
		fail(e, -EIO, "yaml: %s", e->y.problem ? e->y.problem : "emitter error");
}

/* YAML 1.1 readers (PyYAML, Kubernetes' decoder) take these plain words
 * and number-like strings as null, booleans or numbers: quote them so a
 * string reads back as a string. */
static bool y_needs_quotes(const char *s)
{
	static const char *const words[] = { "~", "null", "true", "false", "yes", "no",
					     "on", "off", "y", "n", "=", "<<" };

	if (!s[0] || strchr("0123456789+-.", s[0]))
		return true;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (!strcasecmp(s, words[i]))
			return true;
	return false;
}

static void y_scalar(struct emit *e, const char *s, bool is_string)
{
	yaml_event_t ev;
	bool quote = is_string && y_needs_quotes(s);
	int ok;

	ok = yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s),
					  !quote, 1,
					  quote ? YAML_SINGLE_QUOTED_SCALAR_STYLE
						: is_string ? YAML_ANY_SCALAR_STYLE
							    : YAML_PLAIN_SCALAR_STYLE);
	y_emit(e, &ev, ok);
}

/* --- JSON ----------------------------------------------------------------- */

static void j_indent(struct emit *e)
{
	fputc('\n', e->f);
	for (size_t i = 0; i < e->depth; i++)
		fputs("  ", e->f);
}

/* Before any value: the comma and indentation a sequence item needs
 * (a map value follows its key on the same line). */
static void j_value(struct emit *e)
{
	if (e->after_key) {
		e->after_key = false;
		return;
	}
	if (!e->depth)
		return;
	if (e->count[e->depth - 1]++)
		fputc(',', e->f);
	j_indent(e);
}

static void j_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
}

static void j_open(struct emit *e, char c)
{
	j_value(e);
	if (e->depth == EMIT_MAX_DEPTH) {
		fail(e, -E2BIG, "json: nesting deeper than %d", EMIT_MAX_DEPTH);
		return;
	}
	fputc(c, e->f);
	e->count[e->depth++] = 0;
}

static void j_close(struct emit *e, char c)
{
	if (!e->depth) {
		fail(e, -EINVAL, "json: close without open");
		return;
	}
	e->depth--;
	if (e->count[e->depth])
		j_indent(e);
	fputc(c, e->f);
}

/* --- The writer interface ------------------------------------------------- */

struct emit *emit_begin(enum emit_format fmt, FILE *f)
{
	struct emit *e = calloc(1, sizeof(*e));
	yaml_event_t ev;

	if (!e)
		return NULL;
	e->fmt = fmt;
	e->f = f;
	if (fmt != EMIT_YAML)
		return e;
	if (!yaml_emitter_initialize(&e->y)) {
		free(e);
		return NULL;
	}
	yaml_emitter_set_output_file(&e->y, f);
	yaml_emitter_set_unicode(&e->y, 1);
	yaml_emitter_set_width(&e->y, -1);
	yaml_emitter_set_indent(&e->y, 2);
	y_emit(e, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING));
	y_emit(e, &ev, yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1));
	return e;
}

int emit_end(struct emit *e, char *err, size_t errlen)
{
	yaml_event_t ev;
	int rc;

	if (e->fmt == EMIT_YAML) {
		y_emit(e, &ev, yaml_document_end_event_initialize(&ev, 1));
		y_emit(e, &ev, yaml_stream_end_event_initialize(&ev));
		if (!e->err && !yaml_emitter_flush(&e->y))
			fail(e, -EIO, "yaml: %s", e->y.problem ? e->y.problem : "flush failed");
		yaml_emitter_delete(&e->y);
	} else {
		if (!e->err && e->depth)
			fail(e, -EINVAL, "json: %zu containers left open", e->depth);
		fputc('\n', e->f);
	}
	if (!e->err && (fflush(e->f) || ferror(e->f)))
		fail(e, -EIO, "write error: %s", strerror(errno));
	rc = e->err;
	if (rc && err)
		snprintf(err, errlen, "%s", e->msg);
	free(e);
	return rc;
}

void emit_map_begin(struct emit *e)
{
	yaml_event_t ev;

	if (e->err)
		return;
	if (e->fmt == EMIT_JSON) {
		j_open(e, '{');
		return;
	}
	y_emit(e, &ev, yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
							    YAML_BLOCK_MAPPING_STYLE));
}

void emit_map_end(struct emit *e)
{
	yaml_event_t ev;

	if (e->err)
		return;
	if (e->fmt == EMIT_JSON) {
		j_close(e, '}');
		return;
	}
	y_emit(e, &ev, yaml_mapping_end_event_initialize(&ev));
}

void emit_seq_begin(struct emit *e)
{
	yaml_event_t ev;

	if (e->err)
		return;
	if (e->fmt == EMIT_JSON) {
		j_open(e, '[');
		return;
	}
	y_emit(e, &ev, yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
							     YAML_BLOCK_SEQUENCE_STYLE));
}

void emit_seq_end(struct emit *e)
{
	yaml_event_t ev;

	if (e->err)
		return;
	if (e->fmt == EMIT_JSON) {
		j_close(e, ']');
		return;
	}
	y_emit(e, &ev, yaml_sequence_end_event_initialize(&ev));
}

void emit_key(struct emit *e, const char *key)
{
	if (e->err)
		return;
	if (e->fmt == EMIT_YAML) {
		y_scalar(e, key, true);
		return;
	}
	j_value(e);
	j_string(e->f, key);
	fputs(": ", e->f);
	e->after_key = true;
}

static void emit_raw(struct emit *e, const char *text)
{
	if (e->err)
		return;
	if (e->fmt == EMIT_YAML) {
		y_scalar(e, text, false);
		return;
	}
	j_value(e);
	fputs(text, e->f);
}

void emit_str(struct emit *e, const char *s)
{
	if (e->err)
		return;
	if (!s)
		s = "";
	if (e->fmt == EMIT_YAML) {
		y_scalar(e, s, true);
		return;
	}
	j_value(e);
	j_string(e->f, s);
}

void emit_u64(struct emit *e, uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	emit_raw(e, buf);
}

void emit_i64(struct emit *e, int64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRId64, v);
	emit_raw(e, buf);
}

void emit_bool(struct emit *e, bool v)
{
	emit_raw(e, v ? "true" : "false");
}

void emit_null(struct emit *e)
{
	emit_raw(e, "null");
}

static void emit_double(struct emit *e, double v)
{
	char buf[40];

	if (v != v) {
		emit_str(e, "NaN");
		return;
	}
	if (v > 1.7976931348623157e308) {
		emit_str(e, "Infinity");
		return;
	}
	if (v < -1.7976931348623157e308) {
		emit_str(e, "-Infinity");
		return;
	}
	snprintf(buf, sizeof(buf), "%.17g", v);
	emit_raw(e, buf);
}

/* --- Messages through their descriptors ----------------------------------- */

static void emit_base64(struct emit *e, const ProtobufCBinaryData *b)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *s = malloc(b->len / 3 * 4 + 5);
	size_t o = 0;

	if (!s) {
		fail(e, -ENOMEM, "out of memory");
		return;
	}
	for (size_t i = 0; i < b->len; i += 3) {
		uint32_t v = (uint32_t)b->data[i] << 16;
		size_t left = b->len - i;

		if (left > 1)
			v |= (uint32_t)b->data[i + 1] << 8;
		if (left > 2)
			v |= b->data[i + 2];
		s[o++] = tab[v >> 18 & 63];
		s[o++] = tab[v >> 12 & 63];
		s[o++] = left > 1 ? tab[v >> 6 & 63] : '=';
		s[o++] = left > 2 ? tab[v & 63] : '=';
	}
	s[o] = 0;
	emit_str(e, s);
	free(s);
}

static size_t elt_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_ENUM:
		return 4;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(ProtobufCMessage *);
	}
	return 0;
}

/* One value of field f stored at p. */
static void emit_value(struct emit *e, const ProtobufCFieldDescriptor *f, const void *p)
{
	const ProtobufCEnumValue *ev;

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		emit_i64(e, *(const int32_t *)p);
		return;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		emit_u64(e, *(const uint32_t *)p);
		return;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		emit_i64(e, *(const int64_t *)p);
		return;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		emit_u64(e, *(const uint64_t *)p);
		return;
	case PROTOBUF_C_TYPE_FLOAT:
		emit_double(e, *(const float *)p);
		return;
	case PROTOBUF_C_TYPE_DOUBLE:
		emit_double(e, *(const double *)p);
		return;
	case PROTOBUF_C_TYPE_BOOL:
		emit_bool(e, *(const protobuf_c_boolean *)p);
		return;
	case PROTOBUF_C_TYPE_ENUM:
		/* An unknown value (newer daemon) shows as its number. */
		ev = protobuf_c_enum_descriptor_get_value(f->descriptor, *(const int *)p);
		if (ev) {
			emit_str(e, ev->name);
			return;
		}
		emit_i64(e, *(const int *)p);
		return;
	case PROTOBUF_C_TYPE_STRING:
		emit_str(e, *(char *const *)p);
		return;
	case PROTOBUF_C_TYPE_BYTES:
		emit_base64(e, p);
		return;
	case PROTOBUF_C_TYPE_MESSAGE:
		emit_message(e, *(ProtobufCMessage *const *)p);
		return;
	}
	fail(e, -EINVAL, "field %s: unknown type %d", f->name, (int)f->type);
}

/* protoc-c turns map<K, V> into repeated messages "<Field>Entry" with
 * fields key (1) and value (2); nothing else marks them. */
static bool is_map_field(const ProtobufCFieldDescriptor *f)
{
	const ProtobufCMessageDescriptor *d = f->descriptor;
	size_t n;

	if (f->label != PROTOBUF_C_LABEL_REPEATED || f->type != PROTOBUF_C_TYPE_MESSAGE)
		return false;
	n = strlen(d->name);
	return d->n_fields == 2 && n > 5 && !strcmp(d->name + n - 5, "Entry") &&
	       d->fields[0].id == 1 && !strcmp(d->fields[0].name, "key") &&
	       d->fields[1].id == 2 && !strcmp(d->fields[1].name, "value") &&
	       d->fields[0].type != PROTOBUF_C_TYPE_MESSAGE &&
	       d->fields[0].type != PROTOBUF_C_TYPE_BYTES;
}

static void emit_map_field(struct emit *e, const ProtobufCFieldDescriptor *f,
			   ProtobufCMessage *const *entries, size_t n)
{
	const ProtobufCMessageDescriptor *d = f->descriptor;
	const ProtobufCFieldDescriptor *kf = &d->fields[0], *vf = &d->fields[1];
	char key[32];

	emit_map_begin(e);
	for (size_t i = 0; i < n && !e->err; i++) {
		const char *m = (const char *)entries[i];
		const void *k = m + kf->offset;

		switch (kf->type) {
		case PROTOBUF_C_TYPE_STRING:
			emit_key(e, *(char *const *)k ? *(char *const *)k : "");
			break;
		case PROTOBUF_C_TYPE_BOOL:
			emit_key(e, *(const protobuf_c_boolean *)k ? "true" : "false");
			break;
		case PROTOBUF_C_TYPE_INT64:
		case PROTOBUF_C_TYPE_SINT64:
		case PROTOBUF_C_TYPE_SFIXED64:
			snprintf(key, sizeof(key), "%" PRId64, *(const int64_t *)k);
			emit_key(e, key);
			break;
		case PROTOBUF_C_TYPE_UINT64:
		case PROTOBUF_C_TYPE_FIXED64:
			snprintf(key, sizeof(key), "%" PRIu64, *(const uint64_t *)k);
			emit_key(e, key);
			break;
		case PROTOBUF_C_TYPE_UINT32:
		case PROTOBUF_C_TYPE_FIXED32:
			snprintf(key, sizeof(key), "%" PRIu32, *(const uint32_t *)k);
			emit_key(e, key);
			break;
		default:
			snprintf(key, sizeof(key), "%" PRId32, *(const int32_t *)k);
			emit_key(e, key);
			break;
		}
		emit_value(e, vf, m + vf->offset);
	}
	emit_map_end(e);
}

void emit_message(struct emit *e, const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d;
	const char *base = (const char *)m;

	if (e->err)
		return;
	if (!m) {
		emit_null(e);
		return;
	}
	d = m->descriptor;
	emit_map_begin(e);
	for (unsigned int i = 0; i < d->n_fields && !e->err; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const void *p = base + f->offset;

		if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
		    *(const uint32_t *)(base + f->quantifier_offset) != f->id)
			continue;
		emit_key(e, f->name);
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)(base + f->quantifier_offset);
			const char *arr = *(char *const *)p;

			if (is_map_field(f)) {
				emit_map_field(e, f, (ProtobufCMessage *const *)arr, n);
				continue;
			}
			emit_seq_begin(e);
			for (size_t j = 0; j < n; j++)
				emit_value(e, f, arr + j * elt_size(f->type));
			emit_seq_end(e);
			continue;
		}
		/* proto2 optional scalars carry a has_ flag; strings and
		 * messages are NULL when absent. */
		if (f->label == PROTOBUF_C_LABEL_OPTIONAL && !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
		    f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE &&
		    !*(const protobuf_c_boolean *)(base + f->quantifier_offset)) {
			emit_null(e);
			continue;
		}
		emit_value(e, f, p);
	}
	emit_map_end(e);
}

void emit_messages(struct emit *e, ProtobufCMessage *const *m, size_t n)
{
	emit_seq_begin(e);
	for (size_t i = 0; i < n; i++)
		emit_message(e, m[i]);
	emit_seq_end(e);
}
