-- Products that existed before the ledger get one movement each that opens
-- it with the stock they had, so that stock equals the sum of the
-- movements from the start. The movement takes the product's id (a UUIDv7
-- of the product's creation, unique among movements since no other
-- movement ever gets a product's id) and only products without any
-- movement get one, so running the step again inserts nothing.
INSERT INTO stock_movements (id, product_id, delta, kind, reason, order_id, actor, request_id, created_at)
SELECT p.id, p.id, p.stock, 'created', 'stock when the ledger began', NULL, 'service', '', UTC_TIMESTAMP(6)
FROM products p
WHERE NOT EXISTS (SELECT 1 FROM stock_movements m WHERE m.product_id = p.id)
