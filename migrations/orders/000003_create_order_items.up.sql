-- One row per product in an order, its unit price fixed when the order was
-- placed.
--
-- There is deliberately NO foreign key from product_id to products. InnoDB
-- checks a foreign key by taking a shared lock on the parent row, so every
-- item insert would S-lock the very product rows that the same transaction
-- then X-locks to take stock. Two orders on the same product would each hold
-- S and wait for X: a deadlock on the hottest rows, every time. The check
-- the foreign key would have made is made anyway: the placement's stock
-- UPDATE must change every ordered product row in the same transaction that
-- writes the items, or the transaction rolls back.
-- The foreign key to orders is harmless: the parent row is the one this
-- transaction has just inserted.
CREATE TABLE IF NOT EXISTS order_items (
    order_id         BINARY(16) NOT NULL,
    product_id       BINARY(16) NOT NULL,
    qty              BIGINT     NOT NULL,
    unit_price_cents BIGINT     NOT NULL,
    subtotal_cents   BIGINT     NOT NULL,
    PRIMARY KEY (order_id, product_id),
    CONSTRAINT fk_order_items_order FOREIGN KEY (order_id) REFERENCES orders (id),
    CONSTRAINT ck_order_items_qty CHECK (qty > 0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci
