#!/usr/bin/env bash
# drizzle-kit writes "public". into every reference; without it the migrations apply into whatever
# schema search_path names, which lets tests give each case its own schema on one Postgres database.
set -euo pipefail
cd "$(dirname "$0")/.."
npx drizzle-kit generate "$@"
sed -i 's/"public"\.//g' migrations/*.sql
