#!/bin/sh
# /usr/local/bin/sluice-entrypoint — the image's ENTRYPOINT.
#
#   (no arguments)            sluiced /etc/sluice/server.properties
#   --override k=v ...        the same, with these arguments for sluiced
#   sluiced [--override ...]  the same (the image's file is added when no
#                             file is given)
#   sluiced FILE ...          sluiced with that file instead
#   sluice|sluice-perf|any other command ...   runs that command
#
# Configuration is read by sluiced itself (file < SLUICE_* environment <
# --override; see `sluiced --help`), so it behaves the same outside the image.
# The one thing decided here is a default for advertised.listeners: when
# neither the environment nor the file sets it, the listener is advertised
# with "localhost" in place of an empty or wildcard host (sluiced itself would
# advertise the container's host name, which clients outside cannot resolve).
# Only SLUICE_LISTENERS and the file are looked at: whoever changes listeners
# with --override gives advertised.listeners the same way.
# Then the command is exec'd, so sluiced is PID 1 and gets `docker stop`'s
# SIGTERM directly.
set -eu

CONFIG=/etc/sluice/server.properties

# The last value of setting $2 in properties file $1, or nothing.
file_setting() {
    [ -r "$1" ] || return 0
    sed -n "s/^[[:space:]]*$2[[:space:]]*[=:][[:space:]]*//p" "$1" | tail -n 1
}

if [ $# -eq 0 ] || [ "${1#-}" != "$1" ]; then
    set -- sluiced "$@"
fi
if [ "$1" = sluiced ] && { [ $# -eq 1 ] || [ "${2#-}" != "$2" ]; }; then
    shift
    set -- sluiced "$CONFIG" "$@"
fi

# sluiced's file is now $2 (the image's or the one given).
if [ "$1" = sluiced ] && [ -z "${SLUICE_ADVERTISED_LISTENERS:-}" ] &&
    [ -z "$(file_setting "$2" 'advertised\.listeners')" ]; then
    listeners=${SLUICE_LISTENERS:-$(file_setting "$2" listeners)}
    listeners=${listeners:-PLAINTEXT://:9092}
    first=${listeners%%,*}
    scheme=${first%%://*}
    hostport=${first#*://}
    host=${hostport%:*}
    port=${hostport##*:}
    case $host in "" | 0.0.0.0 | "[::]" | ::) host=localhost ;; esac
    export SLUICE_ADVERTISED_LISTENERS="$scheme://$host:$port"
fi

exec "$@"
