/* errno.c: messages and names for the DURO_E* codes. */
#include "duro/errno.h"

const char *duro_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
#define XX(name, value, msg)                                                   \
    case DURO_##name:                                                          \
        return msg;
        DURO_ERRNO_MAP(XX)
#undef XX
    default:
        return "unknown error";
    }
}

const char *duro_err_name(int err)
{
    switch (err) {
#define XX(name, value, msg)                                                   \
    case DURO_##name:                                                          \
        return #name;
        DURO_ERRNO_MAP(XX)
#undef XX
    default:
        return "UNKNOWN";
    }
}

int duro_err_is_transient(int err)
{
    return err == DURO_ECONN || err == DURO_EAGAIN;
}
