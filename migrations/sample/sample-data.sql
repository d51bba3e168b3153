-- Sample customers and products for a development or demo stack.
-- Run it after the services have created their schemas; INSERT IGNORE makes
-- a second run change nothing.
--   docker compose exec -T mysql sh -c 'exec mysql -uroot -p"$MYSQL_ROOT_PASSWORD"' < migrations/sample/sample-data.sql

INSERT IGNORE INTO customers_db.customers (id, name, email, phone, created_at, updated_at) VALUES
    (UNHEX('0192f3a07c1a7d2e8b3c4d5e6f700001'), 'ACME Corporation', 'ops@acme.example', '+1 555 0100', '2026-01-05 09:00:00.000000', '2026-01-05 09:00:00.000000'),
    (UNHEX('0192f3a07c1a7d2e8b3c4d5e6f700002'), 'Globex Industrial', 'purchasing@globex.example', '+44 20 7946 0958', '2026-01-05 09:01:00.000000', '2026-01-05 09:01:00.000000'),
    (UNHEX('0192f3a07c1a7d2e8b3c4d5e6f700003'), 'Initech Supplies', 'orders@initech.example', '', '2026-01-05 09:02:00.000000', '2026-01-05 09:02:00.000000');

INSERT IGNORE INTO orders_db.products (id, sku, name, price_cents, stock, version, created_at, updated_at) VALUES
    (UNHEX('0192f3a07c1a7d2e8b3c4d5e6f710001'), 'LAPTOP-14-PRO', 'Laptop 14" Pro', 129900, 50, 1, '2026-01-05 09:10:00.000000', '2026-01-05 09:10:00.000000'),
    (UNHEX('0192f3a07c1a7d2e8b3c4d5e6f710002'), 'MONITOR-27-4K', 'Monitor 27" 4K', 45900, 120, 1, '2026-01-05 09:11:00.000000', '2026-01-05 09:11:00.000000'),
    (UNHEX('0192f3a07c1a7d2e8b3c4d5e6f710003'), 'DOCK-USB-C', 'USB-C docking station', 18900, 300, 1, '2026-01-05 09:12:00.000000', '2026-01-05 09:12:00.000000'),
    (UNHEX('0192f3a07c1a7d2e8b3c4d5e6f710004'), 'KEYBOARD-MECH', 'Mechanical keyboard', 9900, 500, 1, '2026-01-05 09:13:00.000000', '2026-01-05 09:13:00.000000'),
    (UNHEX('0192f3a07c1a7d2e8b3c4d5e6f710005'), 'HEADSET-ANC', 'Noise-cancelling headset', 24900, 80, 1, '2026-01-05 09:14:00.000000', '2026-01-05 09:14:00.000000'),
    (UNHEX('0192f3a07c1a7d2e8b3c4d5e6f710006'), 'CABLE-HDMI-2M', 'HDMI cable 2 m', 1500, 2000, 1, '2026-01-05 09:15:00.000000', '2026-01-05 09:15:00.000000');

-- Each product's ledger opens with its initial stock, so that its stock is
-- the sum of its movements (the movement takes the product's id, as the
-- migration that opened the ledger does).
INSERT IGNORE INTO orders_db.stock_movements (id, product_id, delta, kind, reason, order_id, actor, request_id, created_at)
SELECT p.id, p.id, p.stock, 'created', 'initial stock', NULL, 'service', '', p.created_at
FROM orders_db.products p
WHERE p.id IN (UNHEX('0192f3a07c1a7d2e8b3c4d5e6f710001'), UNHEX('0192f3a07c1a7d2e8b3c4d5e6f710002'), UNHEX('0192f3a07c1a7d2e8b3c4d5e6f710003'),
               UNHEX('0192f3a07c1a7d2e8b3c4d5e6f710004'), UNHEX('0192f3a07c1a7d2e8b3c4d5e6f710005'), UNHEX('0192f3a07c1a7d2e8b3c4d5e6f710006'));
