-- Money and payments. Every statement keeps the rows already there: new
-- columns have a default or are NULL, and a column whose collation changes
-- keeps its character set, so its values convert as they are. Each table is
-- altered by one statement, rebuilt at most once.

-- An item's price, in minor units of its currency (ISO 4217). Items created
-- before prices existed cost 0 IDR, as they were sold.
ALTER TABLE items
  ADD COLUMN price    BIGINT NOT NULL DEFAULT 0 AFTER max_per_customer,
  ADD COLUMN currency CHAR(3) CHARACTER SET ascii NOT NULL DEFAULT 'IDR' AFTER price,
  ADD CONSTRAINT items_price_nonnegative CHECK (price >= 0);

-- total and currency are fixed when the order is decided confirmed (NULL
-- while pending, and for good when rejected); refund_required flags an order
-- a payment arrived for that cannot pay it. customer_id compares bytes, as
-- Go does: 'Dave' and 'dave' are two customers, to every per-customer limit.
-- (Like every _bin collation of MySQL 8 and MariaDB it pads: trailing
-- spaces are ignored in comparisons.)
ALTER TABLE orders
  MODIFY COLUMN customer_id VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  ADD COLUMN total           BIGINT NULL AFTER parts_done,
  ADD COLUMN currency        CHAR(3) CHARACTER SET ascii NULL AFTER total,
  ADD COLUMN refund_required BOOLEAN NOT NULL DEFAULT FALSE AFTER currency;

-- unit_price is the item's price when the line was reserved; NULL for a line
-- that never was.
ALTER TABLE order_lines
  MODIFY COLUMN customer_id VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  ADD COLUMN unit_price BIGINT NULL AFTER quantity;

-- Orders decided confirmed before prices existed were sold at 0 IDR: they get
-- that total, so that a payment event can still pay them, and their lines
-- that price. Rejected orders keep NULL; pending ones get theirs when decided.
UPDATE orders SET total = 0, currency = 'IDR'
  WHERE status IN ('confirmed', 'awaiting_payment', 'paid', 'active', 'fulfilled', 'canceled') AND total IS NULL;
UPDATE order_lines l JOIN orders o ON o.id = l.order_id
  SET l.unit_price = 0
  WHERE o.total IS NOT NULL AND l.unit_price IS NULL;

-- Every payment event, stored in the transaction that applied it; event_id
-- is the provider's (or "manual:<order id>" for the back office's), so a
-- redelivered event finds its row and changes nothing. outcome is what it
-- did: paid, recorded (a failure), refund_required, amount_mismatch. amount
-- and currency are NULL only for a manual payment of an order that has no
-- total. The outcome index serves the list of refunds, oldest first.
CREATE TABLE IF NOT EXISTS payments (
  event_id    VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
  order_id    CHAR(36)     CHARACTER SET ascii NOT NULL,
  source      VARCHAR(16)  CHARACTER SET ascii NOT NULL,
  status      VARCHAR(16)  CHARACTER SET ascii NOT NULL,
  amount      BIGINT       NULL,
  currency    CHAR(3)      CHARACTER SET ascii NULL,
  outcome     VARCHAR(20)  CHARACTER SET ascii NOT NULL,
  received_at DATETIME(6)  NOT NULL,
  KEY payments_outcome_received (outcome, received_at)
) ENGINE=InnoDB;

-- The view reads the columns it names, whatever their collation; it is
-- recreated to show each line's unit_price (NULL for a line kept in its
-- order's row: it was rejected and never reserved).
CREATE OR REPLACE VIEW all_order_lines AS
  SELECT order_id, line_no, item_id, quantity, unit_price, customer_id, status, reason FROM order_lines
  UNION ALL
  SELECT id, 0, item_id, quantity, NULL, customer_id, 'released', reason FROM orders WHERE item_id IS NOT NULL;
