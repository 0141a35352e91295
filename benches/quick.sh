#!/usr/bin/env bash
# The quick version of every benchmark and of the fault suite, one after the
# other, in under five minutes once built (a cold release build takes about
# nine minutes on 2 cores). PostgreSQL figures need TEST_POSTGRES_URL; the
# fault suite needs PostgreSQL's server binaries for its private instance; the
# gateway comparison needs Node.js and npm (it runs `npm ci` in benches/peers/).
#
#   TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres benches/quick.sh
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> building (release)"
cargo build --release --quiet -p benches --bin persona-bench
# `abuse` runs the real gateway binary as its child.
cargo build --release --quiet -p runner --bin persona
cargo test --release --quiet -p runner --test faults --no-run

bench() {
    echo
    echo "==> persona-bench $1 --quick"
    local started=$SECONDS
    cargo run --release --quiet -p benches --bin persona-bench -- "$1" --quick
    echo "($((SECONDS - started)) s)"
}

started=$SECONDS
bench persistence
bench actors
bench dispatch
bench loop
bench rate-limit
bench gateway
bench abuse
echo
echo "==> fault suite (quick)"
cargo test --release --quiet -p runner --test faults -- --nocapture 2>&1 | grep -v '^$'
echo
echo "everything in $((SECONDS - started)) s"
