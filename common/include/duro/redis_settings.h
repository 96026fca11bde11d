/* redis_settings.h: the redis-server settings, beyond persistence, of the
 * servers Duro starts itself: `duro dev` (client/src/cli_dev_redis.c) and
 * duro-bench (bench/src/redis.c), which BullMQ's side of --vs bullmq
 * repeats (bench/bullmq/chain.mjs; compare.mjs refuses two runs whose
 * settings differ). docker-compose.yml sets the same.
 *
 * stream-node-max-entries 16 (Redis' default 100): a task stream's reads
 * (XREADGROUP >, XDEL) walk the stream node from its first entry, and
 * Duro trims its task streams by whole nodes (XTRIM MINID ~), so a node
 * holds up to that many delivered entries in front of the next one. 16
 * cut the instructions of the bench chain's Functions by 3.4-3.8% and
 * Redis CPU per workflow by ~7%, at no cost in memory per workflow; a long
 * stream (a backlog) takes ~18% more memory per entry. README, "Running
 * Redis for Duro", and docs/benchmarks.md have the figures.
 * Duro is correct without it (a managed Redis may not allow it), only
 * slower. */
#ifndef DURO_REDIS_SETTINGS_H
#define DURO_REDIS_SETTINGS_H

/* the arguments, for an argv initializer, and as one line to show */
#define DURO_REDIS_SETTINGS_ARGV "--stream-node-max-entries", "16"
#define DURO_REDIS_SETTINGS_TEXT "--stream-node-max-entries 16"
#define DURO_REDIS_SETTINGS_ARGC 2

#endif
