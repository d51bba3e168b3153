SET @ddl = IF(EXISTS(SELECT 1 FROM information_schema.columns
    WHERE table_schema = DATABASE() AND table_name = 'products' AND column_name = 'sku_key'),
  'ALTER TABLE products
     ADD UNIQUE KEY uq_products_sku (sku),
     DROP INDEX uq_products_sku_key,
     DROP COLUMN sku_key',
  'SELECT 1');
PREPARE step FROM @ddl;
EXECUTE step;
DEALLOCATE PREPARE step
