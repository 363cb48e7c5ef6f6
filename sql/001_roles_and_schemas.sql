-- Group roles and schemas. Login users are created by the deployment (chart setup Job) and made
-- members of these roles, so privileges are granted once here and passwords never live in SQL.
--   mdp_loader : the pipeline steps; reads and writes the warehouse and the audit log.
--   mdp_reader : dashboards and analysts; SELECT only.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'mdp_loader') THEN
        CREATE ROLE mdp_loader NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'mdp_reader') THEN
        CREATE ROLE mdp_reader NOLOGIN;
    END IF;
END
$$;

-- Nobody but the owner creates objects in public.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

CREATE SCHEMA IF NOT EXISTS warehouse;
CREATE SCHEMA IF NOT EXISTS audit;

GRANT USAGE ON SCHEMA warehouse, audit TO mdp_loader, mdp_reader;

-- Tables created later by the migration owner get the same grants automatically.
ALTER DEFAULT PRIVILEGES IN SCHEMA warehouse
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO mdp_loader;
ALTER DEFAULT PRIVILEGES IN SCHEMA audit
    GRANT SELECT, INSERT, UPDATE ON TABLES TO mdp_loader;
ALTER DEFAULT PRIVILEGES IN SCHEMA warehouse, audit
    GRANT USAGE, SELECT ON SEQUENCES TO mdp_loader;
ALTER DEFAULT PRIVILEGES IN SCHEMA warehouse, audit
    GRANT SELECT ON TABLES TO mdp_reader;
