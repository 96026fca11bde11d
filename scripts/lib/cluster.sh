# shellcheck shell=bash disable=SC2034
# scripts/lib/cluster.sh: a throwaway Redis Cluster on 127.0.0.1, for
# scripts/chaos --cluster and scripts/bench-cluster (sourced, not run).
#
#   cluster_setup DIR MASTERS REPLICAS [redis-server args...]
#       picks free ports (CL_PORTS[0..n-1], each with its bus port +10000
#       free too) and remembers the arguments; starts nothing
#   cluster_node_start I    starts node I in DIR/node-<port> (its
#                           nodes.conf and data stay there across restarts),
#                           CL_PIDS[I] = its pid; waits until it answers PING
#   cluster_node_kill I     SIGKILL, then reaps it
#   cluster_create          redis-cli --cluster create over every node
#                           (--cluster-replicas REPLICAS), then cluster_wait_ok
#   cluster_wait_ok [S]     every running node says cluster_state:ok, every
#                           replica is in sync with its master, and the
#                           MASTERS masters hold slots (S seconds, default
#                           60); 1 when that never happens
#   cluster_url             redis+cluster://127.0.0.1:p1,127.0.0.1:p2,...
#   cluster_masters         the masters' ports, by their first slot
#   cluster_index_of PORT   the node number of PORT
#   cluster_replica_of PORT the port of a connected replica of master PORT
#   cluster_node_id PORT    the node id PORT has in the cluster
#   cluster_cli PORT ARGS   redis-cli -p PORT ARGS (no cluster redirects)
#   cluster_kill_master PORT  SIGKILL master PORT, wait until its replica
#                           is promoted and the cluster is ok, restart the
#                           old one and wait until it is a replica of the
#                           new master in sync with it; CL_NEW_MASTER = the
#                           new master's port; 1 (and why on stderr) on
#                           failure. Not in $(...): it starts a node, whose
#                           pid must land in this shell's CL_PIDS
#
# Ports are below 22768 so that their bus ports (+10000) stay below the
# kernel's ephemeral range (32768+). The caller stops what it started: its
# EXIT trap kills every CL_PIDS entry by pid.

CL_PORTS=()
CL_PIDS=()
CL_ARGS=()
CL_DIR=""
CL_MASTERS=0
CL_REPLICAS=0
CL_STANDALONE=0 # 1: cluster_node_start starts plain servers (for comparisons)

cl_port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

cluster_setup() {
  CL_DIR=$1 CL_MASTERS=$2 CL_REPLICAS=$3
  shift 3
  CL_ARGS=("$@")
  local n=$((CL_MASTERS * (1 + CL_REPLICAS))) base
  CL_PORTS=()
  for _ in $(seq 200); do
    base=$((20000 + RANDOM % (2768 - n)))
    local ok=1 i
    for ((i = 0; i < n; i++)); do
      cl_port_free $((base + i)) && cl_port_free $((base + i + 10000)) || { ok=0; break; }
    done
    if ((ok)); then
      for ((i = 0; i < n; i++)); do CL_PORTS+=($((base + i))); done
      return 0
    fi
  done
  echo "cluster: no $n free ports (with their bus ports)" >&2
  return 1
}

cluster_cli() {
  local port=$1
  shift
  redis-cli -h 127.0.0.1 -p "$port" "$@"
}

cluster_node_start() {
  local i=$1 port=${CL_PORTS[$1]}
  local dir="$CL_DIR/node-$port"
  mkdir -p "$dir"
  redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" \
    --cluster-enabled "$( ((CL_STANDALONE)) && echo no || echo yes)" \
    --cluster-config-file nodes.conf --repl-diskless-sync-delay 0 \
    --logfile "$dir/redis.log" --daemonize no "${CL_ARGS[@]}" </dev/null >/dev/null 2>&1 &
  CL_PIDS[$i]=$!
  for _ in $(seq 300); do
    [[ "$(cluster_cli "$port" ping 2>/dev/null)" == PONG ]] && return 0
    kill -0 "${CL_PIDS[$i]}" 2>/dev/null || break
    sleep 0.1
  done
  echo "cluster: redis-server on port $port did not come up (see $dir/redis.log)" >&2
  return 1
}

cluster_node_kill() {
  local pid=${CL_PIDS[$1]:-}
  [[ -n "$pid" ]] || return 0
  kill -KILL "$pid" 2>/dev/null || true
  { wait "$pid"; } 2>/dev/null || true
}

cluster_index_of() {
  local i
  for i in "${!CL_PORTS[@]}"; do
    [[ "${CL_PORTS[$i]}" == "$1" ]] && { echo "$i"; return 0; }
  done
  return 1
}

cluster_url() {
  local url="redis+cluster://" sep="" p
  for p in "${CL_PORTS[@]}"; do url+="${sep}127.0.0.1:$p"; sep=","; done
  echo "$url"
}

# cl_live_port: a node that answers (CLUSTER NODES is asked of it).
cl_live_port() {
  local p
  for p in "${CL_PORTS[@]}"; do
    [[ "$(cluster_cli "$p" ping 2>/dev/null)" == PONG ]] && { echo "$p"; return 0; }
  done
  return 1
}

# cl_nodes: CLUSTER NODES of a live node, without failed or handshaking
# entries: "id addr flags master ping pong epoch state slots...".
cl_nodes() {
  local p
  p=$(cl_live_port) || return 1
  cluster_cli "$p" cluster nodes 2>/dev/null | grep -v -e ',fail' -e 'handshake' -e 'noaddr'
}

cluster_masters() {
  cl_nodes | awk '$3 ~ /master/ && NF >= 9 {
      split($9, r, "-"); split($2, a, "[:@]"); print r[1], a[2] }' |
    sort -n | awk '{ print $2 }'
}

cluster_node_id() {
  cluster_cli "$1" cluster myid 2>/dev/null
}

cluster_replica_of() {
  local id
  id=$(cluster_node_id "$1") || return 1
  cl_nodes | awk -v m="$id" '$3 ~ /slave/ && $4 == m && $8 == "connected" {
      split($2, a, "[:@]"); print a[2]; exit }'
}

cluster_wait_ok() {
  local secs=${1:-60} deadline p i ok
  deadline=$(($(date +%s) + secs))
  while (($(date +%s) < deadline)); do
    ok=1
    for i in "${!CL_PORTS[@]}"; do
      kill -0 "${CL_PIDS[$i]:-0}" 2>/dev/null || continue
      p=${CL_PORTS[$i]}
      cluster_cli "$p" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || { ok=0; break; }
      # a replica that never finished its first sync cannot be promoted
      [[ "$(cl_role "$p")" != slave*down ]] || { ok=0; break; }
    done
    if ((ok)) && (($(cluster_masters | wc -l) == CL_MASTERS)); then return 0; fi
    sleep 0.2
  done
  return 1
}

cluster_create() {
  local addrs=() p
  for p in "${CL_PORTS[@]}"; do addrs+=("127.0.0.1:$p"); done
  redis-cli --cluster create "${addrs[@]}" --cluster-replicas "$CL_REPLICAS" \
    --cluster-yes >"$CL_DIR/create.log" 2>&1 ||
    { echo "cluster: redis-cli --cluster create failed (see $CL_DIR/create.log)" >&2; return 1; }
  cluster_wait_ok 60 ||
    { echo "cluster: cluster_state never became ok" >&2; return 1; }
}

# cl_role PORT: "master", "slave <master port> <link up|down>", or nothing.
cl_role() {
  cluster_cli "$1" info replication 2>/dev/null | tr -d '\r' | awk -F: '
    $1 == "role" { role = $2 } $1 == "master_port" { mp = $2 }
    $1 == "master_link_status" { link = $2 }
    END { if (role == "slave") print role, mp, link; else if (role) print role }'
}

cluster_kill_master() {
  local old=$1 i replica new="" deadline id
  CL_NEW_MASTER=""
  i=$(cluster_index_of "$old") || return 1
  replica=$(cluster_replica_of "$old")
  [[ -n "$replica" ]] || { echo "cluster: master $old has no connected replica" >&2; return 1; }
  cluster_node_kill "$i"
  # the replica is promoted once the others have marked the master failed
  # (cluster-node-timeout) and voted for it
  deadline=$(($(date +%s) + 60))
  while (($(date +%s) < deadline)); do
    if [[ "$(cl_role "$replica")" == master ]] &&
      cluster_cli "$replica" cluster info 2>/dev/null | grep -q '^cluster_state:ok'; then
      new=$replica
      break
    fi
    sleep 0.2
  done
  [[ -n "$new" ]] || { echo "cluster: replica $replica of $old was never promoted" >&2; return 1; }
  # the old master comes back from its nodes.conf, sees a newer epoch for
  # its slots and turns itself into a replica of the new master; nudge it
  # with CLUSTER REPLICATE if it has not after a few seconds
  cluster_node_start "$i" || return 1
  id=$(cluster_node_id "$new")
  deadline=$(($(date +%s) + 60))
  local nudged=0 t0
  t0=$(date +%s)
  while (($(date +%s) < deadline)); do
    [[ "$(cl_role "$old")" == "slave $new up" ]] && break
    if ((!nudged && $(date +%s) - t0 >= 5)); then
      cluster_cli "$old" cluster replicate "$id" >/dev/null 2>&1 || true
      nudged=1
    fi
    sleep 0.2
  done
  [[ "$(cl_role "$old")" == "slave $new up" ]] ||
    { echo "cluster: $old did not become a replica of $new in sync ($(cl_role "$old"))" >&2; return 1; }
  cluster_wait_ok 60 || { echo "cluster: not ok after the failover of $old" >&2; return 1; }
  CL_NEW_MASTER=$new
}
