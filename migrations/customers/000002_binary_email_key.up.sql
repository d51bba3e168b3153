-- Emails are unique as the bytes the service stores, which are lower-cased
-- already, not as utf8mb4_unicode_ci compares them: that collation folds
-- accents and ß, so "josé@x.example" was taken by "jose@x.example" and
-- "straße@x.example" by "strasse@x.example". utf8mb4_bin, on the key column
-- only, is the same on MySQL 8 and MariaDB; searches still read the email
-- column and its collation. Setting the column's whole definition again
-- changes nothing, so the step can be applied twice.
ALTER TABLE customers
    MODIFY email_live VARCHAR(254) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin
        AS (IF(deleted_at IS NULL, email, NULL)) STORED
