"""The warehouse tables hold exactly the contract columns, with the contract's types and
nullability: a column added to a contract without a migration (or vice versa) fails here."""

from __future__ import annotations

import psycopg
import pytest

from mdp.contracts import CONTRACTS, Contract

pytestmark = pytest.mark.integration
BOOKKEEPING = {"source_file_id", "loaded_at"}


@pytest.mark.parametrize("contract", CONTRACTS.values(), ids=list(CONTRACTS))
def test_table_matches_contract(contract: Contract, conn: psycopg.Connection) -> None:
    schema, table = contract.warehouse_table.split(".")
    rows = conn.execute(
        "SELECT column_name, format_type(a.atttypid, a.atttypmod), is_nullable = 'YES'"
        " FROM information_schema.columns c"
        " JOIN pg_attribute a ON a.attrelid = (quote_ident(c.table_schema) || '.' ||"
        "   quote_ident(c.table_name))::regclass AND a.attname = c.column_name"
        " WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
        (schema, table),
    ).fetchall()
    found = {
        name: (pg_type, nullable) for name, pg_type, nullable in rows if name not in BOOKKEEPING
    }
    wanted = {c.name: (c.pg_type(), c.nullable) for c in contract.columns}
    assert found == wanted


@pytest.mark.parametrize("contract", CONTRACTS.values(), ids=list(CONTRACTS))
def test_primary_key_is_the_contract_key(contract: Contract, conn: psycopg.Connection) -> None:
    rows = conn.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
        " AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary",
        (contract.warehouse_table,),
    ).fetchall()
    assert {r[0] for r in rows} == set(contract.key_columns)
