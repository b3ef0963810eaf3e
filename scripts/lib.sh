# shellcheck shell=bash disable=SC2034
# Shared helpers for scripts/services (and anything else that wants the same
# paths). Source it; it defines variables and functions only, runs nothing.
#
# Pinned versions of the local stack. Both are fetched by package name with the
# ordinary package clients (npm, pip); no download address is written here.

# DynamoDB Local (the official AWS jar), as shipped inside this npm package.
DDB_LOCAL_VERSION=1.25.1
DDB_NPM_PACKAGE=amplify-dynamodb-simulator
DDB_NPM_VERSION=2.9.30
# sha256 of package/emulator/DynamoDBLocal.jar inside that npm tarball.
DDB_JAR_SHA256=454305e9bc3e6ebcca5b62569869e31563b8d7e346474e94557b2600702146c7

# osmem-server: an in-memory OpenSearch-compatible server (a Go binary in a wheel).
OSMEM_PYPI_PACKAGE=osmem-server
OSMEM_VERSION=0.1.6

CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/indexer"
RUN_DIR="${XDG_RUNTIME_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}}/indexer/run"

DDB_DIR="$CACHE_ROOT/dynamodb-local-$DDB_LOCAL_VERSION"
DYNAMODB_LOCAL_JAR="$DDB_DIR/DynamoDBLocal.jar"
DYNAMODB_LOCAL_LIB="$DDB_DIR/DynamoDBLocal_lib"

OSMEM_DIR="$CACHE_ROOT/osmem-server-$OSMEM_VERSION"
OSMEM_BIN="$OSMEM_DIR/osmem-server"

DYNAMODB_PORT="${DYNAMODB_PORT:-8000}"
OPENSEARCH_PORT="${OPENSEARCH_PORT:-9200}"
SERVICES_START_TIMEOUT="${SERVICES_START_TIMEOUT:-60}"

log() { printf '%s\n' "services: $*" >&2; }
die() { log "error: $*"; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

sha256_of() {
  if have sha256sum; then sha256sum "$1" | cut -d' ' -f1
  else shasum -a 256 "$1" | cut -d' ' -f1
  fi
}

# The command line of a live process, arguments joined by spaces; empty if gone.
proc_cmdline() {
  local pid=$1
  if [[ -r /proc/$pid/cmdline ]]; then
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true
  else
    ps -ww -o args= -p "$pid" 2>/dev/null || true
  fi
}

pid_alive() { [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null; }

# True if something accepts TCP connections on 127.0.0.1:$1.
port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# HTTP status code of a request (000 when nothing answered).
http_code() {
  local method=$1 url=$2
  curl -s -o /dev/null -w '%{http_code}' --max-time 2 -X "$method" "$url" 2>/dev/null || true
}

# DynamoDB Local answers any POST (400 without a target header is fine).
dynamodb_answers() {
  local code
  code=$(http_code POST "http://127.0.0.1:$1/")
  [[ -n $code && $code != 000 ]]
}

# osmem answers GET / with 200.
osmem_answers() {
  [[ $(http_code GET "http://127.0.0.1:$1/") == 200 ]]
}

cache_complete_dynamodb() {
  [[ -f $DYNAMODB_LOCAL_JAR && -d $DYNAMODB_LOCAL_LIB && -f $DDB_DIR/.complete ]]
}

cache_complete_osmem() {
  [[ -x $OSMEM_BIN && -f $OSMEM_DIR/.complete ]]
}
