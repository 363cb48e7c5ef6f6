-- Warehouse tables of the youtube dataset.
-- video_snapshots mirrors mdp.contracts.youtube one to one (a test compares them).
CREATE TABLE warehouse.video_snapshots (
    video_id            text                     NOT NULL,
    channel_id          text                     NOT NULL,
    channel_name        text                     NOT NULL,
    channel_subscribers bigint                   NOT NULL CHECK (channel_subscribers >= 0),
    description         text,
    total_views         bigint                   NOT NULL CHECK (total_views >= 0),
    total_likes         bigint                   NOT NULL CHECK (total_likes >= 0),
    total_dislikes      bigint                   NOT NULL CHECK (total_dislikes >= 0),
    date_created        timestamp with time zone NOT NULL,
    date_updated        timestamp with time zone NOT NULL,
    source_file_id      bigint                   NOT NULL,  -- audit row id; see 003_sales.sql
    loaded_at           timestamp with time zone NOT NULL DEFAULT now(),
    PRIMARY KEY (video_id, date_updated),
    CHECK (date_updated >= date_created)
);

CREATE INDEX video_snapshots_channel_idx ON warehouse.video_snapshots (channel_id, date_updated);

-- 30-second buckets: the largest counters seen per video in each bucket, and the channel and
-- description of the bucket's latest snapshot (last_snapshot_at), merged across files.
CREATE TABLE warehouse.video_metrics (
    video_id        text                     NOT NULL,
    bucket_start    timestamp with time zone NOT NULL,
    last_snapshot_at timestamp with time zone NOT NULL,
    channel_id      text                     NOT NULL,
    channel_name    text                     NOT NULL,
    description     text,
    max_views       bigint                   NOT NULL CHECK (max_views >= 0),
    max_likes       bigint                   NOT NULL CHECK (max_likes >= 0),
    max_dislikes    bigint                   NOT NULL CHECK (max_dislikes >= 0),
    loaded_at       timestamp with time zone NOT NULL DEFAULT now(),
    PRIMARY KEY (video_id, bucket_start),
    CHECK (extract(epoch FROM bucket_start)::bigint % 30 = 0)
);

-- Per channel, from each video's latest snapshot; recomputed by the load step.
CREATE TABLE warehouse.channel_stats (
    channel_id          text                     PRIMARY KEY,
    channel_name        text                     NOT NULL,
    channel_subscribers bigint                   NOT NULL CHECK (channel_subscribers >= 0),
    video_count         bigint                   NOT NULL CHECK (video_count >= 0),
    total_views         bigint                   NOT NULL CHECK (total_views >= 0),
    total_likes         bigint                   NOT NULL CHECK (total_likes >= 0),
    total_dislikes      bigint                   NOT NULL CHECK (total_dislikes >= 0),
    max_views           bigint                   NOT NULL CHECK (max_views >= 0),
    max_likes           bigint                   NOT NULL CHECK (max_likes >= 0),
    max_dislikes        bigint                   NOT NULL CHECK (max_dislikes >= 0),
    updated_at          timestamp with time zone NOT NULL DEFAULT now()
);
