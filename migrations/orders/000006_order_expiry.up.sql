-- Reservation expiry: a CREATED order holds its stock until expires_at
-- (NULL: no deadline, as for orders placed while expiry was off or before
-- it existed), after which the sweep makes it EXPIRED and gives the stock
-- back. EXPIRED joins the ENUM at its end, which both servers change in
-- place. The sweep reads CREATED orders due by now, oldest deadline first,
-- through ix_orders_status_expires. One ALTER makes the whole change, so
-- it is there whole or not at all; it runs only while expires_at is
-- missing (see package migrations).
SET @ddl = IF(EXISTS(SELECT 1 FROM information_schema.columns
    WHERE table_schema = DATABASE() AND table_name = 'orders' AND column_name = 'expires_at'),
  'SELECT 1',
  'ALTER TABLE orders
     MODIFY COLUMN status ENUM(''CREATED'', ''CONFIRMED'', ''CANCELED'', ''EXPIRED'') NOT NULL,
     ADD COLUMN expires_at DATETIME(6) NULL,
     ADD KEY ix_orders_status_expires (status, expires_at)');
PREPARE step FROM @ddl;
EXECUTE step;
DEALLOCATE PREPARE step
