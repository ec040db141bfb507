/* sl_empty.c — keeps a layer library linkable while it has no sources of its own. */
#include "sl_base.h"
typedef int sl_empty_t;
