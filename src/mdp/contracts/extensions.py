"""Names of the code extensions a contract may ask for with ``extension: <name>``.

A plain keyed dataset needs no code: its one warehouse table is derived from the contract. A
dataset whose warehouse shape is more than "the newest row per key" names an extension, whose
code derives the extra tables (``mdp.warehouse.extensions`` maps each name below to it). The
names live here, apart from the code, so ``mdp contracts check`` can check them without the
transform's dependencies.
"""

EXTENSIONS: dict[str, str] = {
    "youtube_metrics": "video_metrics (30-second buckets of the largest counters per video) and "
    "channel_stats (per channel, from each video's latest snapshot); see mdp.warehouse.extensions",
}
