// C half of package xslt: libxslt compilation and transformation, each in one call.
#ifndef SNODO_XSLT_H
#define SNODO_XSLT_H

#include <stdint.h>
#include <libxslt/xsltInternals.h>

// What libxml2 and libxslt reported during one call.
typedef struct {
	char *text;     // messages, one per line, bounded (see SNODO_XSLT_LOG_MAX)
	size_t n, cap;
	int truncated;  // text reached its bound
	int xml_errors; // libxml2 errors of level error or fatal
	int line, column; // position of the first libxml2 error, 0 if none
	char *first;    // message of the first libxml2 error, or NULL
	int denied;     // resource accesses refused by the security preferences
	int dtd;        // the input document carried a DTD
} snodo_xslt_log;

void snodo_xslt_init(void);
void snodo_xslt_log_free(snodo_xslt_log *log);
xsltStylesheetPtr snodo_xslt_compile(const char *buf, int len, const char *url, uintptr_t fs, snodo_xslt_log *log);
int snodo_xslt_apply(xsltStylesheetPtr style, const char *buf, int len, const char **params,
	snodo_xslt_log *log, unsigned char **out, int *outlen);
void snodo_xslt_free(void *p);

enum {
	SNODO_XSLT_OK = 0,
	SNODO_XSLT_MALFORMED = 1, // the input is not well-formed XML
	SNODO_XSLT_DOCTYPE = 2,   // the input carries a DTD
	SNODO_XSLT_FAILED = 3,    // the transformation reported an error or was stopped
	SNODO_XSLT_INTERNAL = -1,
};

#endif
