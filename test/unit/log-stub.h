/* criu's logging for programs that link the encryption module alone:
 * warnings and errors go to stderr.  Include it in one file of a program. */
#include <stdarg.h>
#include <stdio.h>

#include "log.h"

void print_on_level(unsigned int loglevel, const char *format, ...)
{
	va_list args;

	if (loglevel > LOG_WARN)
		return;
	va_start(args, format);
	vfprintf(stderr, format, args);
	va_end(args);
}
