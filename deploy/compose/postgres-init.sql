-- Runs once, on the first start with an empty data volume (/docker-entrypoint-initdb.d).
-- One database per service, each owned by its own login role: a service can reach only its own
-- tables, as in Kubernetes where each service has its own CloudNativePG cluster.
-- Passwords come from the container's environment (docker-compose.yml passes them from
-- deploy/compose/.env) and are read with psql's \getenv, so none is written here.
\set ON_ERROR_STOP on

\getenv registry_password REGISTRY_DB_PASSWORD
\getenv clustering_password CLUSTERING_DB_PASSWORD
\getenv financing_password FINANCING_DB_PASSWORD
\getenv supply_chain_password SUPPLY_CHAIN_DB_PASSWORD

\if :{?registry_password}
\else
  DO $$ BEGIN RAISE EXCEPTION 'REGISTRY_DB_PASSWORD is not set'; END $$;
\endif
\if :{?clustering_password}
\else
  DO $$ BEGIN RAISE EXCEPTION 'CLUSTERING_DB_PASSWORD is not set'; END $$;
\endif
\if :{?financing_password}
\else
  DO $$ BEGIN RAISE EXCEPTION 'FINANCING_DB_PASSWORD is not set'; END $$;
\endif
\if :{?supply_chain_password}
\else
  DO $$ BEGIN RAISE EXCEPTION 'SUPPLY_CHAIN_DB_PASSWORD is not set'; END $$;
\endif

CREATE ROLE umkm_registry LOGIN PASSWORD :'registry_password';
CREATE DATABASE umkm_registry OWNER umkm_registry;
REVOKE ALL ON DATABASE umkm_registry FROM PUBLIC;

CREATE ROLE umkm_clustering LOGIN PASSWORD :'clustering_password';
CREATE DATABASE umkm_clustering OWNER umkm_clustering;
REVOKE ALL ON DATABASE umkm_clustering FROM PUBLIC;

CREATE ROLE umkm_financing LOGIN PASSWORD :'financing_password';
CREATE DATABASE umkm_financing OWNER umkm_financing;
REVOKE ALL ON DATABASE umkm_financing FROM PUBLIC;

CREATE ROLE umkm_supply_chain LOGIN PASSWORD :'supply_chain_password';
CREATE DATABASE umkm_supply_chain OWNER umkm_supply_chain;
REVOKE ALL ON DATABASE umkm_supply_chain FROM PUBLIC;
