-- The transactional outbox: one row per announced change, written in the
-- transaction of the change, so a row exists exactly when its change
-- committed. Nothing else of an event changes after commit but its place in
-- the feed (position) and its delivery.
--
-- position is NULL until a publisher gives the committed row its place in
-- commit order, under the lock of the outbox_head row (adapters/mysql
-- feed.go): an AUTO_INCREMENT id would not do, since a transaction that took
-- a lower id may commit after a reader paged past a higher one.
-- (resource_type, resource_id, seq) is unique: one event per state of a
-- resource. payload holds the bytes the API renders for the resource; a
-- BLOB, not JSON, because MySQL's JSON type normalizes the text it gives
-- back. The delivery columns are the dispatcher's: a claim sets
-- claimed_until and counts the attempt; the outcome sets delivery.
CREATE TABLE IF NOT EXISTS outbox (
    id              BINARY(16)   NOT NULL,
    type            VARCHAR(32)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    resource_type   VARCHAR(16)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    resource_id     BINARY(16)   NOT NULL,
    seq             BIGINT       NOT NULL,
    payload         MEDIUMBLOB   NOT NULL,
    occurred_at     DATETIME(6)  NOT NULL,
    position        BIGINT       NULL,
    delivery        ENUM('pending', 'delivered', 'failed') NOT NULL DEFAULT 'pending',
    attempts        INT          NOT NULL DEFAULT 0,
    next_attempt_at DATETIME(6)  NULL,
    claimed_until   DATETIME(6)  NULL,
    last_error      VARCHAR(300) NULL,
    delivered_at    DATETIME(6)  NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_outbox_resource_seq (resource_type, resource_id, seq),
    KEY ix_outbox_position (position),
    KEY ix_outbox_delivery_position (delivery, position)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci
