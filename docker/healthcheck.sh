#!/bin/sh
# /usr/local/bin/sluice-healthcheck — the image's HEALTHCHECK: asks the broker
# for its metadata (every topic) through the Kafka protocol with the sluice
# CLI, so "healthy" means a broker answered, not just that a port is open.
#
# The address is SLUICE_HEALTHCHECK_BOOTSTRAP if set (host:port), else the
# first of SLUICE_LISTENERS or the properties file's listeners, with an empty
# or wildcard host read as 127.0.0.1. Exit status 0 healthy, 1 not.
set -u

CONFIG=/etc/sluice/server.properties
bootstrap=${SLUICE_HEALTHCHECK_BOOTSTRAP:-}
if [ -z "$bootstrap" ]; then
    listeners=${SLUICE_LISTENERS:-}
    if [ -z "$listeners" ] && [ -r "$CONFIG" ]; then
        listeners=$(sed -n 's/^[[:space:]]*listeners[[:space:]]*[=:][[:space:]]*//p' "$CONFIG" |
            tail -n 1)
    fi
    listeners=${listeners:-PLAINTEXT://:9092}
    first=${listeners%%,*}
    hostport=${first#*://}
    host=${hostport%:*}
    case $host in "" | 0.0.0.0 | "[::]" | ::) host=127.0.0.1 ;; esac
    bootstrap=$host:${hostport##*:}
fi
exec sluice topics --list --bootstrap-server "$bootstrap" --timeout-ms 5000 >/dev/null
