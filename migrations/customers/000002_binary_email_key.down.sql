ALTER TABLE customers
    MODIFY email_live VARCHAR(254) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci
        AS (IF(deleted_at IS NULL, email, NULL)) STORED
