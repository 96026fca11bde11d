/* samples.h: the samples worker (task queue "samples"): one workflow per
 * composition primitive (child workflows, continue-as-new, updates,
 * external signals, sagas, asynchronous completion, local activities),
 * each with the contract README's "Samples" section gives, so that each
 * can be driven from the CLI and tested. Every sample file registers its
 * workflows and activities through one samples_register_* function. */
#ifndef DURO_SAMPLES_H
#define DURO_SAMPLES_H

#include "duro/worker.h"

#define SAMPLES_TASK_QUEUE "samples"

/* One line per sample file (keep them in this order; add yours at the
 * end). Each returns 0, or a negative DURO_E* from a registration. */
int samples_register_echo(duro_worker *w);
int samples_register_trip(duro_worker *w);
int samples_register_approval(duro_worker *w);
int samples_register_quick_lookup(duro_worker *w);
int samples_register_counter(duro_worker *w);
int samples_register_accumulator(duro_worker *w);
int samples_register_child(duro_worker *w);
int samples_register_pinger(duro_worker *w);

#endif
