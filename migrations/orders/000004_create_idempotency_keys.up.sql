-- A key names one attempt at a command (target_type) and points at what it
-- acted on (target_id). The row is written in the same transaction as the
-- command's effect, so a committed key always has its effect committed too;
-- a concurrent twin blocks on the primary key until the first commits, then
-- sees the duplicate and replays.
--
-- `key` is binary so that keys compare byte for byte: no case folding and no
-- trailing-space padding. request_hash is the fingerprint of the request, to
-- tell a retry from a reuse of the key. response_status and response_body
-- hold a response that is replayed byte for byte (confirm); it is a BLOB, not
-- JSON, because MySQL's JSON type normalizes the text it gives back. Place
-- keys replay the order at target_id instead and leave them NULL.
CREATE TABLE IF NOT EXISTS idempotency_keys (
    target_type     VARCHAR(32)    CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    `key`           VARBINARY(255) NOT NULL,
    target_id       BINARY(16)     NOT NULL,
    status          ENUM('IN_PROGRESS', 'COMPLETED') NOT NULL,
    request_hash    CHAR(64)       CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    response_status SMALLINT       NULL,
    response_body   MEDIUMBLOB     NULL,
    created_at      DATETIME(6)    NOT NULL,
    expires_at      DATETIME(6)    NOT NULL,
    PRIMARY KEY (target_type, `key`),
    KEY ix_idempotency_keys_expires (expires_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci
