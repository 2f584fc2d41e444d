#!/usr/bin/env bash
# Runs every test of scoped: makes sure the test servers answer (starting
# them, or installing them from Debian's packages, where they are missing),
# then runs go vet, the race-enabled tests, each fuzz target for a few
# seconds and the benchmarks in short mode of the core module, and go vet
# and the race-enabled tests of each nested module (extra/scopedotel,
# examples/counter), each module once.
#
# The servers are found at $SCOPED_REDIS_ADDR (default 127.0.0.1:6379),
# $SCOPED_MYSQL_DSN (default root@tcp(127.0.0.1:3306)/test) and
# $SCOPED_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test).
# Servers at other addresses are taken as they are: this script only manages
# the local ones.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v go >/dev/null || export PATH="$PATH:/usr/local/go/bin"
export SCOPED_REDIS_ADDR="${SCOPED_REDIS_ADDR:-127.0.0.1:6379}"
export SCOPED_MYSQL_DSN="${SCOPED_MYSQL_DSN:-root@tcp(127.0.0.1:3306)/test}"
export SCOPED_POSTGRES_URL="${SCOPED_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"

say() { echo "test.sh: $*" >&2; }

# wait_for CMD...: retries CMD for up to 30 seconds.
wait_for() {
	for _ in $(seq 60); do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 0.5
	done
	return 1
}

apt_install() {
	say "installing $*"
	if [ -z "${APT_UPDATED:-}" ]; then
		apt-get update -qq
		APT_UPDATED=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_redis() {
	[ "$SCOPED_REDIS_ADDR" = 127.0.0.1:6379 ] || return 0
	command -v redis-server >/dev/null || apt_install redis-server
	redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping | grep -q PONG; }
	redis_up 2>/dev/null && return 0
	say "starting Redis on 127.0.0.1:6379"
	mkdir -p /var/lib/redis /var/log/redis
	redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
		--dir /var/lib/redis --logfile /var/log/redis/ci.log
	wait_for redis_up || { say "Redis did not start"; exit 1; }
}

ensure_mariadb() {
	[ "$SCOPED_MYSQL_DSN" = "root@tcp(127.0.0.1:3306)/test" ] || return 0
	command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || apt_install mariadb-server
	tcp_up() { mariadb -uroot -h127.0.0.1 -P3306 -e 'SELECT 1'; }
	socket_up() { mariadb -uroot -e 'SELECT 1'; }
	answers() { tcp_up || socket_up; }
	if ! answers >/dev/null 2>&1; then
		say "starting MariaDB on 127.0.0.1:3306"
		mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
		start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
		wait_for answers || { say "MariaDB did not start"; exit 1; }
	fi
	if ! tcp_up >/dev/null 2>&1; then
		# A fresh Debian install lets root in through the socket only.
		say "letting root into MariaDB over TCP with an empty password, as the tests expect"
		mariadb -uroot -e "ALTER USER root@localhost IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket"
		tcp_up >/dev/null || { say "MariaDB refuses root over TCP"; exit 1; }
	fi
	mariadb -uroot -h127.0.0.1 -P3306 -e 'CREATE DATABASE IF NOT EXISTS test'
}

ensure_postgres() {
	[ "$SCOPED_POSTGRES_URL" = postgres://postgres@127.0.0.1:5432/test ] || return 0
	compgen -G '/etc/postgresql/*/main' >/dev/null || apt_install postgresql
	answers() { pg_isready -q -h 127.0.0.1 -p 5432; }
	tcp_up() { psql -XAtq -h 127.0.0.1 -p 5432 -U postgres -d postgres -c 'SELECT 1'; }
	as_postgres() { runuser -u postgres -- psql -XAtq "$@"; }
	if ! answers; then
		say "starting PostgreSQL on 127.0.0.1:5432"
		pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n 1)" main start
		wait_for answers || { say "PostgreSQL did not start"; exit 1; }
	fi
	if ! tcp_up >/dev/null 2>&1; then
		# A fresh Debian install asks for a password over TCP.
		say "letting postgres into PostgreSQL over TCP from 127.0.0.1 without a password, as the tests expect"
		sed -i '1i host all postgres 127.0.0.1/32 trust' "$(as_postgres -c 'SHOW hba_file')"
		as_postgres -c 'SELECT pg_reload_conf()' >/dev/null
		wait_for tcp_up || { say "PostgreSQL refuses postgres over TCP"; exit 1; }
	fi
	if [ -z "$(psql -XAtq -h 127.0.0.1 -p 5432 -U postgres -d postgres -c "SELECT 1 FROM pg_database WHERE datname = 'test'")" ]; then
		psql -XAtq -h 127.0.0.1 -p 5432 -U postgres -d postgres -c 'CREATE DATABASE test'
	fi
}

ensure_redis
ensure_mariadb
ensure_postgres

# Each module is tested with the versions its own go.mod requires: go.work,
# which lets `go run ./examples/counter` work from the root, would lift them
# to the highest any module of the workspace needs.
export GOWORK=off

go vet ./...
go test -race -count=1 -timeout 15m ./...

# Each fuzz target, found by its declaration so that a new one is not left
# out, runs for $SCOPED_FUZZTIME (default 10000 inputs) past its seed
# corpus, which the tests above already ran: go test -fuzz takes one target
# at a time. A count, not a duration: a duration that ends while the fuzzer
# is minimizing a new input makes go test fail with "context deadline
# exceeded" and no failing input. A failing input is written to the
# package's testdata/fuzz, to be committed as a regression seed once the
# bug is fixed.
fuzztime="${SCOPED_FUZZTIME:-10000x}"
for file in $(grep -rl --include='*_test.go' '^func Fuzz' . | sort); do
	dir=$(dirname "$file")
	for target in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$file"); do
		say "fuzzing $target in $dir for $fuzztime"
		if ! out=$(cd "$dir" && go test -run '^$' -fuzz "^$target\$" -fuzztime "$fuzztime" . 2>&1); then
			echo "$out" >&2
			say "$target failed: its failing input is in $dir/testdata/fuzz/$target"
			exit 1
		fi
	done
done
go test -run '^$' -bench . -benchtime 200x -count=1 -timeout 10m ./bench/...

# Modules of their own, which the root's ./... leaves out, in or out of the
# workspace.
for mod in $(find . -name go.mod -not -path ./go.mod | sort); do
	dir=$(dirname "$mod")
	say "testing the module in $dir"
	(cd "$dir" && go vet ./... && go test -race -count=1 -timeout 10m ./...)
done
