#!/bin/sh
# A stand-in application: warms up, then serves HTTP with busybox httpd.
# /healthz exists only once the warm-up is over, so tend's health check
# (TEND_HEALTH_CHECK=http://127.0.0.1:8080/healthz) passes only then.
set -eu
www=/tmp/www
mkdir -p "$www"
rm -f "$www/healthz"
echo "hello from $(hostname)" > "$www/index.html"
echo "app: warming up for ${APP_WARMUP:-2}s"
sleep "${APP_WARMUP:-2}"
echo ok > "$www/healthz"
echo "app: serving on :${APP_PORT:-8080}"
# exec: the server becomes tend's direct child and receives the forwarded SIGTERM.
exec httpd -f -p "${APP_PORT:-8080}" -h "$www"
