"""Generated columns shaped like the active contract (``CONTRACTS__DIR``), whatever its version.

The generators know the columns of the built-in contracts. A newer version may add nullable
columns (the only new columns a safe evolution allows): those are written as nulls, so the files
still validate. A required column the generator does not know cannot be filled: that is a
configuration error, raised before the first file is uploaded.
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa

from mdp.contracts import Contract
from mdp.errors import ConfigError


def shaped(contract: Contract, columns: Mapping[str, pa.Array], rows: int) -> pa.RecordBatch:
    """One batch of ``rows`` rows with the contract's columns, in its order and types."""
    arrays = []
    for column in contract.columns:
        if column.name in columns:
            arrays.append(columns[column.name])
        elif column.nullable:
            arrays.append(pa.nulls(rows, column.type.arrow()))
        else:
            raise ConfigError(
                f"the {contract.dataset} generator cannot fill the required column "
                f"{column.name!r} of contract version {contract.version} ({contract.source})"
            )
    return pa.RecordBatch.from_arrays(arrays, schema=contract.arrow_schema())
