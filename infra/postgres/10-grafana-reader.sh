#!/usr/bin/env bash
# Run once by the postgres image on an empty volume (/docker-entrypoint-initdb.d): the login Grafana reads the
# consultations' dashboard views with. It can read only what the Vigie migrations grant it (the views of
# services/consultations/migrations/003_dashboard_views.sql), never a table. Without GRAFANA_DB_PASSWORD, no role.
set -euo pipefail
if [[ -z "${GRAFANA_DB_PASSWORD:-}" ]]; then
  echo "10-grafana-reader: GRAFANA_DB_PASSWORD not set, no vigie_grafana role" >&2
  exit 0
fi
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -v password="$GRAFANA_DB_PASSWORD" <<'SQL'
CREATE ROLE vigie_grafana LOGIN PASSWORD :'password';
GRANT CONNECT ON DATABASE vigie TO vigie_grafana;
GRANT USAGE ON SCHEMA public TO vigie_grafana;
SQL
