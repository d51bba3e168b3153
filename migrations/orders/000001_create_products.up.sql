-- Products carry their own stock. The CHECK is a second guard only: every
-- statement that takes stock already conditions on stock >= qty, so the
-- constraint fires only on a bug, never as the normal "out of stock" path.
-- (created_at, id) serves the newest-first keyset listing.
CREATE TABLE IF NOT EXISTS products (
    id          BINARY(16)   NOT NULL,
    sku         VARCHAR(64)  NOT NULL,
    name        VARCHAR(200) NOT NULL,
    price_cents BIGINT       NOT NULL,
    stock       BIGINT       NOT NULL,
    version     BIGINT       NOT NULL,
    created_at  DATETIME(6)  NOT NULL,
    updated_at  DATETIME(6)  NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_products_sku (sku),
    KEY ix_products_created (created_at, id),
    CONSTRAINT ck_products_stock CHECK (stock >= 0),
    CONSTRAINT ck_products_price CHECK (price_cents >= 0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci
