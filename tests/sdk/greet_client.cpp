// greet_client.cpp: the client API from C++, built by scripts/sdk-check
// against an installed Duro only. Starts workflow "greet" on task queue
// "sdk" and prints its result:
//     greet-client REDIS_URL WORKFLOW_ID NAME
// Exits 0 when the workflow COMPLETED.
#include <cstdio>
#include <string>

#include <duro/client.h>
#include <duro/duration.h>

int main(int argc, char **argv)
{
    if (argc != 4) {
        std::fprintf(stderr, "usage: %s REDIS_URL WORKFLOW_ID NAME\n", argv[0]);
        return 2;
    }
    duro_client *c = nullptr;
    char err[256];
    if (duro_client_new(&c, argv[1], err, sizeof(err)) < 0) {
        std::fprintf(stderr, "greet-client: %s\n", err);
        return 1;
    }
    cJSON *input = cJSON_CreateObject();
    cJSON_AddStringToObject(input, "name", argv[3]);
    char *text = cJSON_PrintUnformatted(input);
    cJSON_Delete(input);
    duro_start_opts o = {};
    o.workflow_id = argv[2];
    o.type = "greet";
    o.task_queue = "sdk";
    o.input = text;
    char run[DURO_UUID_LEN + 1];
    int rc = duro_client_start(c, &o, run);
    cJSON_free(text);
    cJSON *wf = nullptr;
    if (rc == 0) rc = duro_client_result(c, argv[2], duro_seconds(30), &wf);
    if (rc < 0) {
        std::fprintf(stderr, "greet-client: %s: %s\n", duro_err_name(rc),
                     duro_client_errstr(c));
        duro_client_free(c);
        return 1;
    }
    std::string status =
        cJSON_GetStringValue(cJSON_GetObjectItem(wf, "status"));
    char *result = cJSON_PrintUnformatted(cJSON_GetObjectItem(wf, "result"));
    std::printf("%s %s %s\n", argv[2], status.c_str(), result ? result : "");
    cJSON_free(result);
    cJSON_Delete(wf);
    duro_client_free(c);
    return status == "COMPLETED" ? 0 : 1;
}
