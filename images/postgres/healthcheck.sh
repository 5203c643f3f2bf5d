#!/bin/sh
# healthy = PostgreSQL accepts connections on the local socket
exec pg_isready -q -h /var/run/postgresql -p 5432 -t 3
