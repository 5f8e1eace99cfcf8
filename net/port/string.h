/* lwIP includes <string.h>; in the kernel that is lib/string.h */
#include "lib/string.h"
