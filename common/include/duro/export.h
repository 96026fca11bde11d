/* export.h: symbol visibility for Duro's shared libraries. */
#ifndef DURO_EXPORT_H
#define DURO_EXPORT_H

#ifdef __cplusplus
extern "C" {
#endif
#define DURO_EXPORT __attribute__((visibility("default")))
#ifdef __cplusplus
}
#endif
#endif
