CREATE TABLE IF NOT EXISTS customers (
    id         BINARY(16)   NOT NULL,
    name       VARCHAR(100) NOT NULL,
    email      VARCHAR(254) NOT NULL,
    phone      VARCHAR(20)  NOT NULL DEFAULT '',
    created_at DATETIME(6)  NOT NULL,
    updated_at DATETIME(6)  NOT NULL,
    deleted_at DATETIME(6)  NULL,
    -- NULL for deleted rows, so the unique key below binds live customers only.
    email_live VARCHAR(254) AS (IF(deleted_at IS NULL, email, NULL)) STORED,
    PRIMARY KEY (id),
    UNIQUE KEY uq_customers_email_live (email_live),
    KEY ix_customers_live_created (deleted_at, created_at, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci
