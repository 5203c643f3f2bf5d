#!/bin/sh
# healthy = PostgreSQL accepts connections on the local socket, or this member is an empty witness waiting for the
# cluster's first primary (entrypoint.sh): a task is in Docker's DNS only once healthy, and the bootstrap node must
# reach every peer's witness before it may initialise a cluster. The bootstrap node itself is never a witness.
pg_isready -q -h /var/run/postgresql -p 5432 -t 3 && exit 0
[ "$(cat /tmp/pg-member-state 2>/dev/null)" = witness ]
