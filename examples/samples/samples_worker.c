/* samples_worker.c: the worker process for the samples (samples.h). */
#include "samples.h"

int main(int argc, char **argv)
{
    duro_worker *w;
    duro_worker_opts o = {0};
    o.task_queue = SAMPLES_TASK_QUEUE;
    if (duro_worker_new(&w, &o) != 0) return 1;
    int (*const registers[])(duro_worker *) = {
        samples_register_echo,     samples_register_trip,
        samples_register_approval, samples_register_quick_lookup,
        samples_register_counter,  samples_register_accumulator,
        samples_register_child,    samples_register_pinger,
    };
    for (size_t i = 0; i < sizeof(registers) / sizeof(registers[0]); i++) {
        if (registers[i](w) != 0) {
            duro_worker_free(w);
            return 1;
        }
    }
    int rc = duro_worker_main(w, argc, argv);
    duro_worker_free(w);
    return rc;
}
