#!/usr/bin/env bash
# Make sure PostgreSQL, MariaDB and Redis answer on loopback: start any that
# does not, wait (bounded) until it does, and make sure database `test` exists.
set -euo pipefail

WAIT_SECONDS=${WAIT_SECONDS:-60}

pg_up()    { pg_isready -q -h 127.0.0.1 -p 5432; }
maria_up() { mariadb-admin --protocol=tcp -h 127.0.0.1 -P 3306 -u root ping >/dev/null 2>&1; }
redis_up() { [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = "PONG" ]; }

wait_for() {  # wait_for NAME CHECK
  local name=$1 check=$2 i
  for ((i = 0; i < WAIT_SECONDS * 5; i++)); do
    if "$check"; then
      echo "$name answers"
      return 0
    fi
    sleep 0.2
  done
  echo "$name did not answer within ${WAIT_SECONDS}s" >&2
  return 1
}

if ! pg_up; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
fi
if ! redis_up; then
  echo "starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
    --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
fi
if ! maria_up; then
  echo "starting MariaDB"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
fi

wait_for PostgreSQL pg_up
wait_for Redis redis_up
wait_for MariaDB maria_up

# Database `test` on both SQL servers (the tests make their own beside it).
for user in postgres root; do
  if psql -h 127.0.0.1 -U "$user" -d postgres -tAc "SELECT 1" >/dev/null 2>&1; then
    if [ "$(psql -h 127.0.0.1 -U "$user" -d postgres -tAc \
          "SELECT 1 FROM pg_database WHERE datname = 'test'")" != "1" ]; then
      psql -h 127.0.0.1 -U "$user" -d postgres -qc "CREATE DATABASE test"
    fi
    break
  fi
done
mariadb --protocol=tcp -h 127.0.0.1 -P 3306 -u root \
  -e "CREATE DATABASE IF NOT EXISTS test CHARACTER SET utf8mb4"
echo "services ready"
