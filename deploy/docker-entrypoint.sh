#!/bin/sh
# deploy/docker-entrypoint.sh: the image's ENTRYPOINT. The command names a
# program of the image (duro-scheduler, food-worker, bench-worker, duro, or
# anything else on $PATH such as sh): it runs as given. Anything else is a
# duro subcommand, so that
#   docker compose run --rm cli workflow start --type order ...
# runs `duro workflow start --type order ...`. No command: `duro --help`.
set -e
if [ "$#" -eq 0 ]; then
  exec duro --help
fi
case "$1" in
  -*|workflow|queue|dev|health) exec duro "$@" ;;
  */*) exec "$@" ;;
esac
if command -v "$1" >/dev/null 2>&1; then
  exec "$@"
fi
exec duro "$@"
