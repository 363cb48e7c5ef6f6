-- Warehouse table of the sales dataset. Columns mirror mdp.contracts.sales one to one (a test
-- compares them); sale_id is the business key the load step upserts on.
CREATE TABLE warehouse.sales (
    sale_id         text                     PRIMARY KEY,
    sale_timestamp  timestamp with time zone NOT NULL,
    customer_id     text                     NOT NULL,
    customer_name   text                     NOT NULL,
    product_id      text                     NOT NULL,
    product_name    text                     NOT NULL,
    category        text                     NOT NULL,
    quantity        bigint                   NOT NULL CHECK (quantity > 0),
    unit_price      numeric(14,2)            NOT NULL CHECK (unit_price >= 0),
    total_amount    numeric(16,2)            NOT NULL CHECK (total_amount >= 0),
    currency        character(3)             NOT NULL,
    payment_method  text                     NOT NULL,
    region          text,
    source_file_id  bigint                   NOT NULL REFERENCES audit.file_ingestion_log (id),
    loaded_at       timestamp with time zone NOT NULL DEFAULT now()
);

CREATE INDEX sales_sale_timestamp_idx ON warehouse.sales (sale_timestamp);
CREATE INDEX sales_customer_id_idx ON warehouse.sales (customer_id);
