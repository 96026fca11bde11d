/* trip.c: `trip` books a flight, a hotel and a car, and undoes what it
 * booked when a booking fails: the saga helper (worker.h, "Sagas").
 *
 * Input {"fail": "flight"|"hotel"|"car"|null}: the booking named in "fail"
 * fails non-retryably. Then the bookings made so far are canceled newest
 * first (cancelCar, cancelHotel, cancelFlight) and the workflow fails with
 * a message naming the step; otherwise it completes with {"booked": 3}. */
#include <string.h>

#include "samples.h"

static const char *const steps[] = {"flight", "hotel", "car"};
static const char *const books[] = {"bookFlight", "bookHotel", "bookCar"};
static const char *const cancels[] = {"cancelFlight", "cancelHotel",
                                      "cancelCar"};

/* book is every book* activity; arg is its step's name. */
static cJSON *book(duro_actx *ctx, const cJSON *input, void *arg)
{
    const cJSON *fail = cJSON_GetObjectItemCaseSensitive(input, "fail");
    if (cJSON_IsString(fail) && strcmp(fail->valuestring, arg) == 0) {
        duro_actx_fail(ctx, "BookingFailed", true, "no %s available",
                       (const char *)arg);
        return NULL;
    }
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "booked", arg);
    return r;
}

/* cancel is every cancel* activity. */
static cJSON *cancel(duro_actx *ctx, const cJSON *input, void *arg)
{
    (void)ctx;
    (void)input;
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "canceled", arg);
    return r;
}

static cJSON *trip(duro_wf *wf, const cJSON *input)
{
    duro_saga *saga = duro_saga_new(wf, NULL);
    duro_activity_opts o = {0};
    o.start_to_close_ms = 10000;
    for (int i = 0; i < 3; i++) {
        duro_result r = duro_activity(wf, books[i], input, &o);
        if (!r.ok) {
            int rc = duro_saga_compensate(saga);
            return duro_fail(wf, "TripFailed", "booking the %s failed (%s); %s",
                             steps[i], r.error,
                             rc == 0 ? "earlier bookings canceled"
                                     : duro_saga_error(saga));
        }
        duro_saga_add(saga, cancels[i], input, &o);
    }
    cJSON *out = cJSON_CreateObject();
    cJSON_AddNumberToObject(out, "booked", 3);
    return out;
}

int samples_register_trip(duro_worker *w)
{
    int rc = duro_worker_register_workflow(w, "trip", trip);
    for (int i = 0; i < 3 && rc == 0; i++) {
        rc = duro_worker_register_activity(w, books[i], book, (void *)steps[i]);
        if (rc == 0)
            rc = duro_worker_register_activity(w, cancels[i], cancel,
                                               (void *)steps[i]);
    }
    return rc;
}
