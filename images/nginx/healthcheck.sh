#!/bin/sh
# NGINX answers on its internal status port (nginx-agent is the parent process: if it dies the container exits).
exec curl -fsS -o /dev/null --max-time 3 http://127.0.0.1:8081/healthz
