#!/bin/sh
# healthy = the stats endpoint answers (HAProxy runs); routing health is on the stats page
exec curl -fsS -o /dev/null --max-time 2 http://127.0.0.1:8404/stats
