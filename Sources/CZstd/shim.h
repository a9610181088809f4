#ifndef HASHTREND_CZSTD_SHIM_H
#define HASHTREND_CZSTD_SHIM_H
#include <zstd.h>
#endif
