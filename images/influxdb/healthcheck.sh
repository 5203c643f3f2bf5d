#!/bin/bash
# healthy = influxd answers /ping (204) on its HTTP port
exec curl -fsS -o /dev/null --max-time 4 http://127.0.0.1:8086/ping
