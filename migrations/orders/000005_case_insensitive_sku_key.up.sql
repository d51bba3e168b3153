-- SKUs are unique case-insensitively and otherwise exactly: "wid-1" is
-- "WID-1", but "CAFÉ-1" is not "CAFE-1", nor "straße" "strasse", as they
-- were under utf8mb4_unicode_ci, which folds accents and ß. The unique key
-- moves to a generated column holding the lower-cased SKU under utf8mb4_bin,
-- which MySQL 8 and MariaDB both have; searches still read the sku column.
-- One ALTER makes the whole change, so it is there whole or not at all; it
-- runs only while sku_key is missing (see package migrations).
SET @ddl = IF(EXISTS(SELECT 1 FROM information_schema.columns
    WHERE table_schema = DATABASE() AND table_name = 'products' AND column_name = 'sku_key'),
  'SELECT 1',
  'ALTER TABLE products
     ADD COLUMN sku_key VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin AS (LOWER(sku)) STORED,
     ADD UNIQUE KEY uq_products_sku_key (sku_key),
     DROP INDEX uq_products_sku');
PREPARE step FROM @ddl;
EXECUTE step;
DEALLOCATE PREPARE step
