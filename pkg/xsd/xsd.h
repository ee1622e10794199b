// C half of package xsd: libxml2 schema compilation and validation, each in one call.
#ifndef SNODO_XSD_H
#define SNODO_XSD_H

#include <stdint.h>
#include <libxml/xmlschemas.h>

// One problem reported by libxml2, copied out of its error structure.
typedef struct {
	int line;      // 1-based line, 0 if unknown
	int column;    // 1-based column (parse errors), 0 if unknown
	int level;     // xmlErrorLevel
	char *element; // local name of the element concerned (validation), or NULL
	char *path;    // element path such as /a/b[2]/c or /a/@attr (validation), or NULL
	char *message; // libxml2's message on one line
	char *file;    // document URL (schema compilation), or NULL
} snodo_issue;

// A bounded list of problems: at most max are stored; errors counts every problem of
// level error or fatal, stored or not.
typedef struct {
	snodo_issue *items;
	int n;
	int cap; // allocated items
	int max;
	int errors;
	int warnings; // stored problems are errors only, unless keep_warnings is set
	int keep_warnings;
} snodo_issues;

enum {
	SNODO_VALID = 0,
	SNODO_INVALID = 1,   // schema violations in viol
	SNODO_MALFORMED = 2, // parse errors in parse
	SNODO_DOCTYPE = 3,   // the document has a DTD
	SNODO_INTERNAL = -1, // libxml2 could not run (out of memory, internal error)
};

void snodo_xsd_init(void);
int snodo_xsd_loader_installed(void);
int snodo_issues_init(snodo_issues *is, int max, int keep_warnings);
void snodo_issues_free(snodo_issues *is);
xmlSchemaPtr snodo_xsd_compile(const char *url, uintptr_t handle, snodo_issues *issues);
int snodo_xsd_validate(xmlSchemaPtr schema, const char *buf, int len, snodo_issues *parse, snodo_issues *viol);

#endif
