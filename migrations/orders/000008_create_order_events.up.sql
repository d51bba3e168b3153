-- An order's history: one append-only row per change of its status
-- (placed, confirmed, canceled, expired), written in the transaction of the
-- change, with who made it (a JWT subject, or "service") and under which
-- request ('' for the expiry sweep). Ids are UUIDv7. No foreign key, for the
-- reason stock_movements has none: the writing transaction holds the order
-- row, or has just inserted it.
CREATE TABLE IF NOT EXISTS order_events (
    id         BINARY(16)   NOT NULL,
    order_id   BINARY(16)   NOT NULL,
    type       VARCHAR(16)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    actor      VARCHAR(255) NOT NULL,
    request_id VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    created_at DATETIME(6)  NOT NULL,
    PRIMARY KEY (id),
    KEY ix_order_events_order (order_id, created_at, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci
