-- Which contract validated each file: the dataset's contract name and the version that was
-- active when validation picked it (contracts are files, mdp.contracts.registry). A file
-- validated before a new version was deployed keeps the version it was checked against.
ALTER TABLE audit.file_ingestion_log
    ADD COLUMN contract_name    text,
    ADD COLUMN contract_version integer CHECK (contract_version >= 1);
