// C half of package xslt. See doc.go for the design; the rules kept here:
//   - every entry point runs a whole job (compile, or parse+transform+serialise) in one
//     call on one thread; the message collector is thread-local for that call only;
//   - the security preferences forbid every file and network access and are installed
//     both as the process default (compile time: xsl:import, xsl:include) and on every
//     transformation context (run time: document(), exsl:document);
//   - the document loader serves stylesheet modules from the caller's fs.FS during a
//     compile on the same thread, and loads nothing else, ever.
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libxml/parser.h>
#include <libxml/xmlerror.h>
#include <libxml/dict.h>
#include <libxslt/xslt.h>
#include <libxslt/xsltInternals.h>
#include <libxslt/transform.h>
#include <libxslt/xsltutils.h>
#include <libxslt/security.h>
#include <libxslt/documents.h>
#include <libxslt/variables.h>
#include "xslt.h"
#include "_cgo_export.h"

#if LIBXML_VERSION >= 21200
typedef const xmlError *snodo_err;
#else
typedef xmlErrorPtr snodo_err;
#endif

#define SNODO_XSLT_LOG_MAX (64 * 1024)
#define SNODO_FS_PREFIX "snodo-fs:///"
// No network, no DTD loading, no entity substitution; CDATA merged as XSLT expects.
#define SNODO_STYLE_OPTIONS (XML_PARSE_NONET | XML_PARSE_NOCDATA | XML_PARSE_BIG_LINES)
#define SNODO_DOC_OPTIONS (XML_PARSE_NONET | XML_PARSE_BIG_LINES)

static __thread snodo_xslt_log *tl_log; // collector of the call running on this thread
static __thread uintptr_t tl_fs;        // != 0 while this thread compiles from an fs.FS
static xsltSecurityPrefsPtr sec;

static void log_add(snodo_xslt_log *log, const char *s, size_t l) {
	if (log == NULL || log->truncated)
		return;
	if (log->n + l + 2 > SNODO_XSLT_LOG_MAX) {
		log->truncated = 1;
		return;
	}
	if (log->n + l + 2 > log->cap) {
		size_t c = log->cap ? log->cap * 2 : 256;
		while (c < log->n + l + 2)
			c *= 2;
		char *p = realloc(log->text, c);
		if (p == NULL) {
			log->truncated = 1;
			return;
		}
		log->text = p;
		log->cap = c;
	}
	memcpy(log->text + log->n, s, l);
	log->n += l;
	log->text[log->n] = 0;
}

// on_generic receives libxslt's printf-style messages (compile errors, runtime errors,
// xsl:message); they arrive in pieces, newlines separate messages.
static void on_generic(void *ctx, const char *msg, ...) {
	(void)ctx;
	if (tl_log == NULL)
		return;
	char buf[2048];
	va_list ap;
	va_start(ap, msg);
	int l = vsnprintf(buf, sizeof buf, msg, ap);
	va_end(ap);
	if (l < 0)
		return;
	if ((size_t)l >= sizeof buf)
		l = sizeof buf - 1;
	log_add(tl_log, buf, (size_t)l);
}

// on_xml receives libxml2's structured errors (parsing, XPath).
static void on_xml(void *ud, snodo_err e) {
	snodo_xslt_log *log = ud;
	if (log == NULL || e == NULL || e->level < XML_ERR_ERROR)
		return;
	log->xml_errors++;
	char buf[1024];
	int l = snprintf(buf, sizeof buf, "line %d: %s", e->line, e->message ? e->message : "");
	if (l < 0)
		return;
	if ((size_t)l >= sizeof buf)
		l = sizeof buf - 1;
	if (l == 0 || buf[l - 1] != '\n')
		buf[l++] = '\n';
	log_add(log, buf, (size_t)l);
	if (log->first == NULL) {
		log->first = strdup(e->message ? e->message : "");
		log->line = e->line;
		log->column = e->int2;
	}
}

static void note_denied(const char *what, const char *value) {
	if (tl_log == NULL)
		return;
	tl_log->denied++;
	char buf[1024];
	int l = snprintf(buf, sizeof buf, "denied %s %s\n", what, value ? value : "");
	if (l > 0)
		log_add(tl_log, buf, (size_t)l < sizeof buf ? (size_t)l : sizeof buf - 1);
}

static int allow_fs_read(const char *value) {
	return tl_fs != 0 && value != NULL && strncmp(value, SNODO_FS_PREFIX, strlen(SNODO_FS_PREFIX)) == 0;
}

static int check_read_file(xsltSecurityPrefsPtr s, xsltTransformContextPtr ctxt, const char *value) {
	(void)s;
	(void)ctxt;
	note_denied("read-file", value);
	return 0;
}

static int check_read_network(xsltSecurityPrefsPtr s, xsltTransformContextPtr ctxt, const char *value) {
	(void)s;
	// Stylesheet modules of the FS being compiled on this thread (never at run time).
	if (ctxt == NULL && allow_fs_read(value))
		return 1;
	note_denied("read", value);
	return 0;
}

static int check_write_file(xsltSecurityPrefsPtr s, xsltTransformContextPtr ctxt, const char *value) {
	(void)s;
	(void)ctxt;
	note_denied("write-file", value);
	return 0;
}

static int check_create_dir(xsltSecurityPrefsPtr s, xsltTransformContextPtr ctxt, const char *value) {
	(void)s;
	(void)ctxt;
	note_denied("create-directory", value);
	return 0;
}

static int check_write_network(xsltSecurityPrefsPtr s, xsltTransformContextPtr ctxt, const char *value) {
	(void)s;
	(void)ctxt;
	note_denied("write-network", value);
	return 0;
}

// loader replaces libxslt's document loader: stylesheet modules come from the FS being
// compiled on this thread; nothing else is ever loaded.
static xmlDocPtr loader(const xmlChar *URI, xmlDictPtr dict, int options, void *ctxt, xsltLoadType type) {
	(void)options;
	(void)ctxt;
	if (type != XSLT_LOAD_STYLESHEET || !allow_fs_read((const char *)URI)) {
		note_denied("load", (const char *)URI);
		return NULL;
	}
	char *data = NULL, *canon = NULL;
	int size = 0;
	if (!snodoXSLTLoad(tl_fs, (char *)URI, &data, &size, &canon))
		return NULL;
	xmlParserCtxtPtr p = xmlNewParserCtxt();
	if (p == NULL)
		return NULL;
	if (dict != NULL) {
		// Stylesheet modules must share the stylesheet's dictionary.
		if (p->dict != NULL)
			xmlDictFree(p->dict);
		p->dict = dict;
		xmlDictReference(dict);
	}
	xmlDocPtr doc = xmlCtxtReadMemory(p, data, size, canon, NULL, SNODO_STYLE_OPTIONS);
	if (doc != NULL && (!p->wellFormed || doc->intSubset != NULL || doc->extSubset != NULL)) {
		if (doc->intSubset != NULL || doc->extSubset != NULL)
			note_denied("doctype", canon);
		xmlFreeDoc(doc);
		doc = NULL;
	}
	xmlFreeParserCtxt(p);
	return doc;
}

void snodo_xslt_init(void) {
	static int done;
	if (done)
		return;
	done = 1;
	xmlInitParser();
	xsltInit();
	sec = xsltNewSecurityPrefs();
	xsltSetSecurityPrefs(sec, XSLT_SECPREF_READ_FILE, check_read_file);
	xsltSetSecurityPrefs(sec, XSLT_SECPREF_WRITE_FILE, check_write_file);
	xsltSetSecurityPrefs(sec, XSLT_SECPREF_CREATE_DIRECTORY, check_create_dir);
	xsltSetSecurityPrefs(sec, XSLT_SECPREF_READ_NETWORK, check_read_network);
	xsltSetSecurityPrefs(sec, XSLT_SECPREF_WRITE_NETWORK, check_write_network);
	xsltSetDefaultSecurityPrefs(sec);
	xsltSetLoaderFunc(loader);
	xsltSetGenericErrorFunc(NULL, on_generic);
}

void snodo_xslt_log_free(snodo_xslt_log *log) {
	free(log->text);
	free(log->first);
	memset(log, 0, sizeof *log);
}

void snodo_xslt_free(void *p) {
	if (p != NULL)
		xmlFree(p);
}

typedef struct {
	xmlStructuredErrorFunc s;
	void *sctx;
	xmlGenericErrorFunc g;
	void *gctx;
} saved_handlers;

static void silent(void *ctx, const char *msg, ...) {
	(void)ctx;
	(void)msg;
}

static void begin(saved_handlers *h, snodo_xslt_log *log) {
	h->s = xmlStructuredError;
	h->sctx = xmlStructuredErrorContext;
	h->g = xmlGenericError;
	h->gctx = xmlGenericErrorContext;
	xmlSetStructuredErrorFunc(log, on_xml);
	xmlSetGenericErrorFunc(NULL, silent);
	tl_log = log;
}

static void end(saved_handlers *h) {
	tl_log = NULL;
	xmlSetStructuredErrorFunc(h->sctx, h->s);
	xmlSetGenericErrorFunc(h->gctx, h->g);
}

xsltStylesheetPtr snodo_xslt_compile(const char *buf, int len, const char *url, uintptr_t fs, snodo_xslt_log *log) {
	saved_handlers h;
	xsltStylesheetPtr style = NULL;
	begin(&h, log);
	tl_fs = fs;
	xmlParserCtxtPtr p = xmlNewParserCtxt();
	if (p == NULL)
		goto out;
	xmlDocPtr doc = xmlCtxtReadMemory(p, buf, len, url, NULL, SNODO_STYLE_OPTIONS);
	int ok = doc != NULL && p->wellFormed && p->nsWellFormed;
	xmlFreeParserCtxt(p);
	if (!ok) {
		if (doc != NULL)
			xmlFreeDoc(doc);
		goto out;
	}
	if (doc->intSubset != NULL || doc->extSubset != NULL) {
		note_denied("doctype", url);
		xmlFreeDoc(doc);
		goto out;
	}
	style = xsltParseStylesheetDoc(doc);
	if (style == NULL) {
		xmlFreeDoc(doc); // not adopted on failure
	} else if (style->errors != 0 || log->denied != 0) {
		xsltFreeStylesheet(style); // frees doc too
		style = NULL;
	}
out:
	tl_fs = 0;
	end(&h);
	return style;
}

int snodo_xslt_apply(xsltStylesheetPtr style, const char *buf, int len, const char **params,
	snodo_xslt_log *log, unsigned char **out, int *outlen) {
	saved_handlers h;
	int rc = SNODO_XSLT_INTERNAL;
	xmlDocPtr doc = NULL, res = NULL;
	xsltTransformContextPtr ctxt = NULL;
	*out = NULL;
	*outlen = 0;

	begin(&h, log);
	xmlParserCtxtPtr p = xmlNewParserCtxt();
	if (p == NULL)
		goto out;
	doc = xmlCtxtReadMemory(p, buf, len, NULL, NULL, SNODO_DOC_OPTIONS);
	int ok = doc != NULL && p->wellFormed && p->nsWellFormed;
	xmlFreeParserCtxt(p);
	if (!ok) {
		rc = SNODO_XSLT_MALFORMED;
		goto out;
	}
	if (doc->intSubset != NULL || doc->extSubset != NULL) {
		log->dtd = 1;
		rc = SNODO_XSLT_DOCTYPE;
		goto out;
	}
	ctxt = xsltNewTransformContext(style, doc);
	if (ctxt == NULL)
		goto out;
	if (xsltSetCtxtSecurityPrefs(sec, ctxt) != 0)
		goto out;
	if (params != NULL && params[0] != NULL && xsltQuoteUserParams(ctxt, params) != 0) {
		rc = SNODO_XSLT_FAILED;
		goto out;
	}
	res = xsltApplyStylesheetUser(style, doc, NULL, NULL, NULL, ctxt);
	if (res == NULL || ctxt->state != XSLT_STATE_OK || log->denied != 0) {
		rc = SNODO_XSLT_FAILED;
		goto out;
	}
	xmlChar *txt = NULL;
	int n = 0;
	if (xsltSaveResultToString(&txt, &n, res, style) != 0) {
		rc = SNODO_XSLT_FAILED;
		goto out;
	}
	*out = txt;
	*outlen = n;
	rc = SNODO_XSLT_OK;
out:
	if (res != NULL)
		xmlFreeDoc(res);
	if (ctxt != NULL)
		xsltFreeTransformContext(ctxt);
	if (doc != NULL)
		xmlFreeDoc(doc);
	end(&h);
	return rc;
}
