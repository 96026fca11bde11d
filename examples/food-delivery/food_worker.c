/* food_worker.c: the worker process for the food-delivery example. */
#include "food.h"

int main(int argc, char **argv)
{
    duro_worker *w;
    duro_worker_opts o = {0};
    o.task_queue = FOOD_TASK_QUEUE;
    if (duro_worker_new(&w, &o) != 0) return 1;
    duro_worker_register_workflow(w, "order", food_order);
    food_register_activities(w);
    food_setup_start(argc, argv);
    int rc = duro_worker_main(w, argc, argv);
    duro_worker_free(w);
    return rc;
}
