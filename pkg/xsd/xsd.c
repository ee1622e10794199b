// C half of package xsd. See doc.go for the design; the rules kept here:
//   - every entry point runs a whole job (compile, or parse+validate) in one call on one
//     thread, and installs its error handlers in libxml2's per-thread state for that call
//     only, so no error can cross to another goroutine's call;
//   - external loads go through snodo_loader: during a compile it serves files from the
//     caller's fs.FS (through the Go callback snodoXSDLoad), during a validation it refuses
//     everything; outside our calls it defers to the loader it replaced.
#include <stdlib.h>
#include <string.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/xmlIO.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlschemas.h>
#include <libxml/xmlschemastypes.h>
#include <libxml/tree.h>
#include "xsd.h"
#include "_cgo_export.h"

#if LIBXML_VERSION >= 21200
typedef const xmlError *snodo_err;
#else
typedef xmlErrorPtr snodo_err;
#endif

// Documents: no network, no DTD loading, no entity substitution (options absent on
// purpose: XML_PARSE_NOENT, XML_PARSE_DTDLOAD, XML_PARSE_DTDATTR, XML_PARSE_HUGE);
// big line numbers so errors past line 65535 still name their line.
#define SNODO_DOC_OPTIONS (XML_PARSE_NONET | XML_PARSE_BIG_LINES)

static __thread uintptr_t tl_handle; // != 0 while this thread compiles a schema
static __thread int tl_deny;         // != 0 while this thread validates a document
static xmlExternalEntityLoader default_loader;

static xmlParserInputPtr snodo_loader(const char *URL, const char *ID, xmlParserCtxtPtr ctxt) {
	if (tl_handle != 0) {
		char *data = NULL, *canon = NULL;
		int size = 0;
		if (URL == NULL || !snodoXSDLoad(tl_handle, (char *)URL, &data, &size, &canon))
			return NULL;
		// data stays owned by Go until the compile call returns, whichever way this
		// libxml2 version treats memory buffers (copy or reference).
		xmlParserInputBufferPtr buf = xmlParserInputBufferCreateMem(data, size, XML_CHAR_ENCODING_NONE);
		if (buf == NULL)
			return NULL;
		xmlParserInputPtr in = xmlNewIOInputStream(ctxt, buf, XML_CHAR_ENCODING_NONE);
		if (in == NULL) {
			xmlFreeParserInputBuffer(buf);
			return NULL;
		}
		// The document's base URL: relative imports resolve against it, inside the FS.
		in->filename = (const char *)xmlStrdup((const xmlChar *)canon);
		return in;
	}
	if (tl_deny)
		return NULL;
	return default_loader != NULL ? default_loader(URL, ID, ctxt) : NULL;
}

static void silent(void *ctx, const char *msg, ...) {
	(void)ctx;
	(void)msg;
}

void snodo_xsd_init(void) {
	static int done;
	if (done)
		return;
	done = 1;
	xmlInitParser();
	xmlSchemaInitTypes();
	default_loader = xmlGetExternalEntityLoader();
	xmlSetExternalEntityLoader(snodo_loader);
}

int snodo_xsd_loader_installed(void) {
	return xmlGetExternalEntityLoader() == snodo_loader;
}

int snodo_issues_init(snodo_issues *is, int max, int keep_warnings) {
	memset(is, 0, sizeof *is);
	if (max < 1)
		max = 1;
	// Start small and grow on demand: a caller's generous maximum costs nothing unless
	// the document really has that many problems.
	int cap = max < 64 ? max : 64;
	is->items = calloc((size_t)cap, sizeof(snodo_issue));
	if (is->items == NULL)
		return -1;
	is->cap = cap;
	is->max = max;
	is->keep_warnings = keep_warnings;
	return 0;
}

void snodo_issues_free(snodo_issues *is) {
	if (is->items == NULL)
		return;
	for (int i = 0; i < is->n; i++) {
		free(is->items[i].element);
		free(is->items[i].path);
		free(is->items[i].message);
		free(is->items[i].file);
	}
	free(is->items);
	is->items = NULL;
	is->n = 0;
}

// one_line copies s with newlines folded to spaces and trailing blanks removed.
static char *one_line(const char *s) {
	if (s == NULL)
		return strdup("");
	char *d = strdup(s);
	if (d == NULL)
		return NULL;
	for (char *p = d; *p; p++)
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
	size_t n = strlen(d);
	while (n > 0 && d[n - 1] == ' ')
		d[--n] = 0;
	return d;
}

typedef struct {
	char *p;
	size_t n, cap;
	int oom;
} sbuf;

static void sb_add(sbuf *b, const char *s) {
	size_t l = strlen(s);
	if (b->oom)
		return;
	if (b->n + l + 1 > b->cap) {
		size_t c = b->cap ? b->cap * 2 : 128;
		while (c < b->n + l + 1)
			c *= 2;
		char *p = realloc(b->p, c);
		if (p == NULL) {
			b->oom = 1;
			return;
		}
		b->p = p;
		b->cap = c;
	}
	memcpy(b->p + b->n, s, l + 1);
	b->n += l;
}

static int same_element(xmlNodePtr a, xmlNodePtr b) {
	if (a->type != XML_ELEMENT_NODE || !xmlStrEqual(a->name, b->name))
		return 0;
	if (a->ns == NULL || b->ns == NULL)
		return a->ns == b->ns;
	return xmlStrEqual(a->ns->href, b->ns->href);
}

// element_path writes /name[i]/... from the root down to n: local names without
// prefixes (they differ from file to file), with a 1-based index where siblings share
// the name, as xmlGetNodePath does. Depth is bounded by libxml2's parser depth limit.
static void element_path(sbuf *b, xmlNodePtr n) {
	if (n == NULL || n->type != XML_ELEMENT_NODE)
		return;
	element_path(b, n->parent);
	int before = 0, after = 0;
	for (xmlNodePtr s = n->prev; s != NULL; s = s->prev)
		if (same_element(s, n))
			before++;
	for (xmlNodePtr s = n->next; s != NULL && !after; s = s->next)
		if (same_element(s, n))
			after = 1;
	sb_add(b, "/");
	sb_add(b, (const char *)n->name);
	if (before || after) {
		char idx[24];
		snprintf(idx, sizeof idx, "[%d]", before + 1);
		sb_add(b, idx);
	}
}

static snodo_issue *next_issue(snodo_issues *is, snodo_err e) {
	if (e == NULL)
		return NULL;
	if (e->level >= XML_ERR_ERROR)
		is->errors++;
	else {
		is->warnings++;
		if (!is->keep_warnings)
			return NULL;
	}
	if (is->n >= is->max)
		return NULL;
	if (is->n >= is->cap) {
		int cap = is->cap > is->max / 2 ? is->max : is->cap * 2;
		snodo_issue *items = realloc(is->items, (size_t)cap * sizeof(snodo_issue));
		if (items == NULL) {
			is->max = is->n; // keep what we have; the rest counts as not listed
			return NULL;
		}
		is->items = items;
		is->cap = cap;
	}
	snodo_issue *it = &is->items[is->n++];
	memset(it, 0, sizeof *it);
	it->line = e->line;
	it->column = e->int2;
	it->level = e->level;
	it->message = one_line(e->message);
	return it;
}

// on_issue collects parse and compile problems.
static void on_issue(void *ud, snodo_err e) {
	snodo_issue *it = next_issue((snodo_issues *)ud, e);
	if (it != NULL && e->file != NULL)
		it->file = strdup(e->file);
}

// on_violation collects validation problems with the element, its path and line.
static void on_violation(void *ud, snodo_err e) {
	snodo_issue *it = next_issue((snodo_issues *)ud, e);
	if (it == NULL || e->node == NULL)
		return;
	xmlNodePtr node = (xmlNodePtr)e->node;
	xmlNodePtr el = node->type == XML_ATTRIBUTE_NODE ? node->parent : node;
	if (el == NULL || el->type != XML_ELEMENT_NODE)
		return;
	long line = xmlGetLineNo(el);
	if (line > 0)
		it->line = (int)line;
	it->element = strdup((const char *)el->name);
	sbuf b = {0};
	element_path(&b, el);
	if (node->type == XML_ATTRIBUTE_NODE) {
		sb_add(&b, "/@");
		sb_add(&b, (const char *)node->name);
	}
	if (b.oom)
		free(b.p);
	else
		it->path = b.p;
}

// The per-thread handlers in force before one of our calls, put back after it.
typedef struct {
	xmlStructuredErrorFunc s;
	void *sctx;
	xmlGenericErrorFunc g;
	void *gctx;
} saved_handlers;

static void catch_errors(saved_handlers *h, snodo_issues *is) {
	h->s = xmlStructuredError;
	h->sctx = xmlStructuredErrorContext;
	h->g = xmlGenericError;
	h->gctx = xmlGenericErrorContext;
	xmlSetStructuredErrorFunc(is, on_issue);
	xmlSetGenericErrorFunc(NULL, silent);
}

static void restore_errors(saved_handlers *h) {
	xmlSetStructuredErrorFunc(h->sctx, h->s);
	xmlSetGenericErrorFunc(h->gctx, h->g);
}

xmlSchemaPtr snodo_xsd_compile(const char *url, uintptr_t handle, snodo_issues *issues) {
	saved_handlers h;
	catch_errors(&h, issues);
	tl_handle = handle;
	xmlSchemaPtr schema = NULL;
	xmlSchemaParserCtxtPtr pc = xmlSchemaNewParserCtxt(url);
	if (pc != NULL) {
		xmlSchemaSetParserStructuredErrors(pc, on_issue, issues);
		schema = xmlSchemaParse(pc);
		xmlSchemaFreeParserCtxt(pc);
	}
	tl_handle = 0;
	restore_errors(&h);
	return schema;
}

int snodo_xsd_validate(xmlSchemaPtr schema, const char *buf, int len, snodo_issues *parse, snodo_issues *viol) {
	saved_handlers h;
	int rc = SNODO_INTERNAL;
	xmlParserCtxtPtr pc = NULL;
	xmlDocPtr doc = NULL;
	xmlSchemaValidCtxtPtr vc = NULL;

	catch_errors(&h, parse);
	tl_deny = 1;
	pc = xmlNewParserCtxt();
	if (pc == NULL)
		goto out;
	doc = xmlCtxtReadMemory(pc, buf, len, NULL, NULL, SNODO_DOC_OPTIONS);
	if (doc == NULL || !pc->wellFormed || !pc->nsWellFormed) {
		rc = SNODO_MALFORMED;
		if (parse->n == 0) {
			// Not reported through the handler (should not happen): take the last error.
			snodo_err e = xmlCtxtGetLastError(pc);
			if (e != NULL && e->code != 0)
				on_issue(parse, e);
		}
		goto out;
	}
	if (doc->intSubset != NULL || doc->extSubset != NULL) {
		rc = SNODO_DOCTYPE;
		goto out;
	}
	vc = xmlSchemaNewValidCtxt(schema);
	if (vc == NULL)
		goto out;
	xmlSchemaSetValidStructuredErrors(vc, on_violation, viol);
	int r = xmlSchemaValidateDoc(vc, doc);
	if (r == 0 && viol->errors == 0)
		rc = SNODO_VALID;
	else if (r > 0 || viol->errors > 0)
		rc = SNODO_INVALID;
out:
	if (vc != NULL)
		xmlSchemaFreeValidCtxt(vc);
	if (doc != NULL)
		xmlFreeDoc(doc);
	if (pc != NULL)
		xmlFreeParserCtxt(pc);
	tl_deny = 0;
	restore_errors(&h);
	return rc;
}
