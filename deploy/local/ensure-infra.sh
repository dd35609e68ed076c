#!/usr/bin/env bash
# Make sure RabbitMQ and Redis (and PostgreSQL, when installed) are running on this machine.
# Starts a service that is installed but stopped; says how to install one that is missing.
# Usage: deploy/local/ensure-infra.sh [--need-postgres]
set -u
need_pg=0
[ "${1:-}" = "--need-postgres" ] && need_pg=1
fail=0

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && exec 3>&- 3<&-; }

wait_port() {  # port seconds
  for _ in $(seq 1 "$2"); do port_open "$1" && return 0; sleep 1; done
  return 1
}

# RabbitMQ (5672) with the management plugin (Nameko's test fixtures make a vhost per test)
if ! port_open 5672; then
  if command -v rabbitmq-server >/dev/null; then
    echo "infra: starting RabbitMQ"
    rabbitmq-server -detached >/dev/null 2>&1 || true
    wait_port 5672 60 || { echo "infra: RabbitMQ did not come up on 5672"; fail=1; }
  else
    echo "infra: RabbitMQ is not installed. Install it with: sudo apt-get install rabbitmq-server"
    fail=1
  fi
fi
if port_open 5672 && ! port_open 15672 && command -v rabbitmq-plugins >/dev/null; then
  echo "infra: enabling rabbitmq_management"
  rabbitmq-plugins enable --quiet rabbitmq_management >/dev/null 2>&1 || true
  wait_port 15672 30 || echo "infra: management API not reachable on 15672 (service tests need it)"
fi

# Redis (6379)
if ! port_open 6379; then
  if command -v redis-server >/dev/null; then
    echo "infra: starting Redis"
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log >/dev/null 2>&1 \
      || redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
    wait_port 6379 20 || { echo "infra: Redis did not come up on 6379"; fail=1; }
  else
    echo "infra: Redis is not installed. Install it with: sudo apt-get install redis-server"
    fail=1
  fi
fi

# PostgreSQL (5432): optional for `make run` (SQLite by default), needed by the test suite
if ! port_open 5432; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    echo "infra: starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start \
      >/dev/null 2>&1 || true
    wait_port 5432 30 || { echo "infra: PostgreSQL did not come up on 5432"; [ $need_pg = 1 ] && fail=1; }
  elif [ $need_pg = 1 ]; then
    echo "infra: PostgreSQL is not installed. Install it with: sudo apt-get install postgresql"
    fail=1
  fi
fi

exit $fail
