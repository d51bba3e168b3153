-- The feed's head: the last position given to an outbox row. A publisher
-- locks this one row (id 1) to give positions, so positions are handed out,
-- and committed, one batch after another, in increasing order. The row is
-- created by the first publisher (INSERT IGNORE), since a step here makes
-- one schema change and no data.
CREATE TABLE IF NOT EXISTS outbox_head (
    id       TINYINT NOT NULL,
    position BIGINT  NOT NULL,
    PRIMARY KEY (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci
