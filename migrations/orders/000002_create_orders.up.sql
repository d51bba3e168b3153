-- Every list is newest first on the keyset (created_at, id); each filter
-- has an index that ends in that keyset, so a filtered page is one index
-- range read in order, without a sort.
CREATE TABLE IF NOT EXISTS orders (
    id           BINARY(16)  NOT NULL,
    customer_id  BINARY(16)  NOT NULL,
    status       ENUM('CREATED', 'CONFIRMED', 'CANCELED') NOT NULL,
    total_cents  BIGINT      NOT NULL,
    created_at   DATETIME(6) NOT NULL,
    updated_at   DATETIME(6) NOT NULL,
    confirmed_at DATETIME(6) NULL,
    canceled_at  DATETIME(6) NULL,
    PRIMARY KEY (id),
    KEY ix_orders_created (created_at, id),
    KEY ix_orders_customer_created (customer_id, created_at, id),
    KEY ix_orders_status_created (status, created_at, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci
