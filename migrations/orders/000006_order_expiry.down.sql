-- The deadline goes; EXPIRED stays in the ENUM, since orders may hold it.
SET @ddl = IF(EXISTS(SELECT 1 FROM information_schema.columns
    WHERE table_schema = DATABASE() AND table_name = 'orders' AND column_name = 'expires_at'),
  'ALTER TABLE orders
     DROP INDEX ix_orders_status_expires,
     DROP COLUMN expires_at',
  'SELECT 1');
PREPARE step FROM @ddl;
EXECUTE step;
DEALLOCATE PREPARE step
