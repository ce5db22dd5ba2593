#!/usr/bin/env bash
# The whole test suite, after infra/setup.sh: lint and format checks, TypeScript tests (unit and
# integration, on the real Temporal dev server, mirror and S3 emulator), then pytest on local Spark.
set -euo pipefail
cd "$(dirname "$0")/.."
export JAVA_HOME="${JAVA_HOME:-$(cat .ccmix/java-home)}"
export SPARK_LOCAL_IP=127.0.0.1

echo "== lint and format"
npx eslint .
npx prettier --check . > /dev/null
.venv/bin/ruff check --config spark-jobs/pyproject.toml spark-jobs test/bench
.venv/bin/ruff format --check --config spark-jobs/pyproject.toml spark-jobs test/bench

echo "== config schema is current"
node bin/ccmix.js config schema | diff -u config/config.schema.json - || {
  echo "config/config.schema.json is stale: run \`node bin/ccmix.js config schema --out config/config.schema.json\`" >&2
  exit 1
}

# One Spark job server for the whole TypeScript suite (each test stack would pay a JVM start).
# Its S3 credentials are the emulator's dummies unless the environment has its own.
echo "== Spark job server (shared by the TypeScript tests)"
# A port picked free can be taken before the server binds it (as test/helpers/services.ts knows):
# on "Address already in use", try again with another.
spark_state=$(mktemp -d)
stop_spark() { node bin/ccmix.js services down --only spark --state-dir "$spark_state" > /dev/null 2>&1 || true; rm -rf "$spark_state"; }
trap stop_spark EXIT
for attempt in 1 2 3; do
  rm -f "$spark_state/spark.log" # the error quotes the log's tail: this attempt's only
  spark_port=$(node -e "require('./dist/core/net').freeLocalPort().then((p) => console.log(p))")
  if AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-testing}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-testing}" \
    node bin/ccmix.js services up --only spark --spark-port "$spark_port" --state-dir "$spark_state" \
    > /dev/null 2> "$spark_state/up.err"; then
    break
  fi
  if [ "$attempt" = 3 ] || ! grep -qi "address already in use" "$spark_state/up.err"; then
    cat "$spark_state/up.err" >&2
    exit 1
  fi
  echo "(port $spark_port was taken before the job server bound it; trying another)"
done
export CCMIX_SPARK_SERVER="http://127.0.0.1:$spark_port"

# The Python tests run beside the TypeScript tests, at the lowest CPU priority: the TypeScript
# suite leaves about a quarter of the machine idle while it waits on workers, timers and
# services (measured on 2 cores), which pytest takes, and its tests keep the cores when they
# need them. pytest's output is printed after the TypeScript suite's. Both suites always run to
# their end, so one run reports every failure.
status=0
pytest_log=$(mktemp)
(cd spark-jobs && exec nice -n 19 ../.venv/bin/pytest -q -rs) > "$pytest_log" 2>&1 &
pytest_pid=$!
stop_pytest() { kill "$pytest_pid" 2> /dev/null || true; rm -f "$pytest_log"; stop_spark; }
trap stop_pytest EXIT

echo "== TypeScript tests"
node --test --test-reporter=spec dist/test/*.test.js dist/test/faults/*.test.js || status=1

echo "== Python tests (PySpark local, run beside the TypeScript tests)"
wait "$pytest_pid" || status=1
cat "$pytest_log"
exit $status
