-- The stock ledger: one append-only row per change of a product's stock,
-- written in the transaction of the change, so that a product's stock is
-- always the sum of its movements' deltas. kind says what moved it
-- (created, set, adjusted, placed, canceled, expired), reason why in words
-- (an operator's own for an adjustment), order_id the order when there is
-- one, actor who (a JWT subject, or "service") and request_id under which
-- request ('' for the service's own work, such as the expiry sweep).
-- Ids are UUIDv7, so the primary key grows in time order.
--
-- There is deliberately no foreign key, to products or to orders: InnoDB
-- checks one with a shared lock on the parent row, and a placement inserts
-- its movements before the UPDATE that takes the same product rows'
-- exclusive locks, so two placements on one product would each hold S and
-- wait for X (see order_items). The writing transaction always holds or has
-- just inserted the parent rows anyway. The list of a product's movements,
-- newest first, reads ix_stock_movements_product in order.
CREATE TABLE IF NOT EXISTS stock_movements (
    id         BINARY(16)   NOT NULL,
    product_id BINARY(16)   NOT NULL,
    delta      BIGINT       NOT NULL,
    kind       VARCHAR(16)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    reason     VARCHAR(200) NOT NULL,
    order_id   BINARY(16)   NULL,
    actor      VARCHAR(255) NOT NULL,
    request_id VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    created_at DATETIME(6)  NOT NULL,
    PRIMARY KEY (id),
    KEY ix_stock_movements_product (product_id, created_at, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci
