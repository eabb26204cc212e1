#!/bin/sh
# Starts versitygw on :9000 with the POSIX backend on /data. With that backend a bucket is a
# top-level directory, so creating the default bucket is a mkdir before the server starts.
set -eu
: "${PLINTH_S3_BUCKET:=plinth}"
: "${PLINTH_S3_ACCESS_KEY:?set PLINTH_S3_ACCESS_KEY}"
: "${PLINTH_S3_SECRET_KEY:?set PLINTH_S3_SECRET_KEY}"
: "${PLINTH_S3_REGION:=us-east-1}"
mkdir -p "/data/${PLINTH_S3_BUCKET}"
exec versitygw --port :9000 \
  --access "${PLINTH_S3_ACCESS_KEY}" --secret "${PLINTH_S3_SECRET_KEY}" \
  --region "${PLINTH_S3_REGION}" --quiet \
  posix /data
