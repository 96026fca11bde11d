/* cli_dev_cluster.h: `duro dev --cluster N`: a local Redis Cluster of N
 * masters for the dev server (cli_dev_cluster.c); cli_dev.c runs the
 * scheduler and the HTTP API against it. */
#ifndef DURO_CLI_DEV_CLUSTER_H
#define DURO_CLI_DEV_CLUSTER_H

#include <stddef.h>
#include <sys/types.h>

#define CLI_DEV_CLUSTER_MAX 16 /* masters */
/* a node's cluster bus listens on its port + this (Redis's default) */
#define CLI_DEV_CLUSTER_BUS_OFFSET 10000

/* cli_dev_cluster: the nodes, on 127.0.0.1:port .. port+n-1. */
typedef struct {
    int n;
    int port; /* the first node's */
    pid_t pid[CLI_DEV_CLUSTER_MAX];
} cli_dev_cluster;

/* cli_dev_cluster_check: the n client ports from port on, and their bus
 * ports, are valid and free. 0, or -1 with err. */
int cli_dev_cluster_check(int port, int n, char *err, size_t errsize);

/* cli_dev_cluster_start starts n cluster nodes under dir/node-<port>
 * (nodes.conf, appendonly files, redis.log), and, on first use of dir,
 * joins them into one cluster with an equal share of the 16384 slots
 * each (on a later run the nodes find each other from nodes.conf). Waits
 * (30s) for cluster_state:ok on every node. Returns 0; -1 with err (the
 * nodes started are stopped); or the signal when SIGINT/SIGTERM came
 * first (*stopped set, nodes stopped). */
int cli_dev_cluster_start(cli_dev_cluster *cl, const char *prog,
                          const char *dir, int port, int n, int *stopped,
                          char *err, size_t errsize);

/* cli_dev_cluster_url: redis+cluster://127.0.0.1:p1,127.0.0.1:p2,... */
void cli_dev_cluster_url(const cli_dev_cluster *cl, char *buf, size_t size);

/* cli_dev_cluster_print tells, on stdout, where the cluster is and how
 * to point a worker at it (dir: the data dir; metrics_addr: the
 * scheduler's, or NULL). */
void cli_dev_cluster_print(const cli_dev_cluster *cl, const char *url,
                           const char *dir, const char *metrics_addr);

/* cli_dev_cluster_stop stops every node (SIGTERM: each writes its AOF). */
void cli_dev_cluster_stop(cli_dev_cluster *cl);

#endif
