"""The extension point: warehouse tables that a contract alone cannot describe.

A plain keyed dataset needs no code: validate, keep the newest row per key, upsert into the one
table its contract names (``mdp.warehouse.tables.main_table``). A dataset whose warehouse holds
more than that names an extension in its contract (``extension: <name>``). An extension is:

1. its name and a one-line description in ``mdp.contracts.extensions.EXTENSIONS`` (what
   ``mdp contracts check`` accepts);
2. its extra tables here, in ``EXTENSION_TABLES``, created by a numbered SQL migration in
   ``sql/`` (the contract tables are created by ``mdp db migrate`` from the contracts; extension
   tables are hand-written SQL because their shape is code);
3. its derivation in ``mdp.transform.derive.EXTENSION_DERIVE``: from one bucket of validated rows
   to every table of the dataset;
4. optionally, a step of the load after the merges: ``youtube_metrics`` writes the channels a
   file touched to ``CHANNELS_FILE``, and the load recomputes those channels' ``channel_stats``
   (``mdp.load.merge.RECOMPUTE_CHANNEL_STATS``).

The built-in ``youtube_metrics`` extension derives ``video_metrics`` (30-second buckets of the
largest counters per video) and ``channel_stats`` (per channel, from each video's latest snapshot).
"""

from __future__ import annotations

from mdp.contracts import get_contract
from mdp.warehouse.tables import VIDEO_METRICS, TableSpec

EXTENSION_TABLES: dict[str, tuple[TableSpec, ...]] = {"youtube_metrics": (VIDEO_METRICS,)}
"""Tables an extension merges after the dataset's main table."""

WRITES_CHANNELS = frozenset({"youtube_metrics"})
"""Extensions whose transform writes ``CHANNELS_FILE`` for the load's channel_stats step."""


def writes_channels(dataset: str) -> bool:
    """Whether the dataset's transform writes the touched channels (``CHANNELS_FILE``)."""
    return get_contract(dataset).extension in WRITES_CHANNELS
