-- Ids stored as 16 bytes (BINARY(16), the UUID's bytes) instead of 36
-- characters, in every table and index that holds one, and a customer's list
-- that holds the orders placed, not those rejected. Orders are keyed by their
-- id, which is time-ordered (a UUIDv7: the gateway's, or one derived from a
-- UUIDv7 Idempotency-Key), so new rows and their index entries are added at
-- the end of each index instead of on random pages: the store's cost stays
-- flat as the history grows. The customer index holds the orders a
-- customer's list shows; a rejected order (most of a flash sale's) is found
-- by id and is not listed, so its entry (NULL) is added at the end too.
--
-- Each id changes in three steps: a new column (instant), its values
-- converted, then one ALTER TABLE that drops the old column and puts the new
-- one in its place, its keys rebuilt. A row another process writes between
-- the conversion and the ALTER has no converted id: the ALTER then fails
-- (NOT NULL), nothing of it applied, and the next start converts it and tries
-- again, so no row is ever lost. Readers of SQL read the report_ views, which
-- show ids as text.

DROP VIEW IF EXISTS all_order_lines;

-- listed_customer_id is customer_id, except NULL while the order is rejected.
ALTER TABLE orders
  ADD COLUMN id_bin BINARY(16) NULL,
  ADD COLUMN listed_customer_id VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL AFTER customer_id;

UPDATE orders
  SET id_bin = UNHEX(REPLACE(id, '-', '')), listed_customer_id = IF(status = 'rejected', NULL, customer_id)
  WHERE id_bin IS NULL;

ALTER TABLE orders
  DROP PRIMARY KEY,
  DROP KEY orders_customer_display,
  DROP COLUMN id,
  CHANGE COLUMN id_bin id BINARY(16) NOT NULL FIRST,
  ADD PRIMARY KEY (id),
  ADD KEY orders_listed (listed_customer_id, display_status, created_at);

ALTER TABLE order_lines ADD COLUMN order_id_bin BINARY(16) NULL;

UPDATE order_lines SET order_id_bin = UNHEX(REPLACE(order_id, '-', '')) WHERE order_id_bin IS NULL;

ALTER TABLE order_lines
  DROP PRIMARY KEY,
  DROP KEY order_lines_order_item,
  DROP COLUMN order_id,
  CHANGE COLUMN order_id_bin order_id BINARY(16) NOT NULL FIRST,
  ADD PRIMARY KEY (order_id, line_no),
  ADD UNIQUE KEY order_lines_order_item (order_id, item_id);

ALTER TABLE payments ADD COLUMN order_id_bin BINARY(16) NULL;

UPDATE payments SET order_id_bin = UNHEX(REPLACE(order_id, '-', '')) WHERE order_id_bin IS NULL;

ALTER TABLE payments
  DROP KEY payments_order,
  DROP COLUMN order_id,
  CHANGE COLUMN order_id_bin order_id BINARY(16) NOT NULL AFTER event_id,
  ADD KEY payments_order (order_id);

-- ref is the order or the stock change that moved the stock.
ALTER TABLE stock_movements ADD COLUMN ref_bin BINARY(16) NULL;

UPDATE stock_movements SET ref_bin = UNHEX(REPLACE(ref, '-', '')) WHERE ref_bin IS NULL;

ALTER TABLE stock_movements
  DROP KEY stock_movements_ref_item_kind,
  DROP COLUMN ref,
  CHANGE COLUMN ref_bin ref BINARY(16) NOT NULL AFTER item_id,
  ADD UNIQUE KEY stock_movements_ref_item_kind (ref, item_id, kind);

ALTER TABLE item_commands ADD COLUMN id_bin BINARY(16) NULL;

UPDATE item_commands SET id_bin = UNHEX(REPLACE(id, '-', '')) WHERE id_bin IS NULL;

ALTER TABLE item_commands
  DROP PRIMARY KEY,
  DROP COLUMN id,
  CHANGE COLUMN id_bin id BINARY(16) NOT NULL FIRST,
  ADD PRIMARY KEY (id);

-- The views SQL readers read: every id as the text the API shows. Their
-- columns are part of the product's contract (docs/api.md); the tables
-- behind them are not.
CREATE OR REPLACE VIEW report_orders AS
  SELECT LOWER(CONCAT_WS('-', HEX(SUBSTR(id, 1, 4)), HEX(SUBSTR(id, 5, 2)), HEX(SUBSTR(id, 7, 2)),
                         HEX(SUBSTR(id, 9, 2)), HEX(SUBSTR(id, 11, 6)))) AS id,
         customer_id, status, reason, display_status, parts, parts_done, total, currency, refund_required,
         created_at, processed_at, updated_at
  FROM orders;

-- Every line of every order, with its order's status; a rejected
-- single-line order keeps its line in its own row (item_id, quantity).
CREATE OR REPLACE VIEW report_order_lines AS
  SELECT LOWER(CONCAT_WS('-', HEX(SUBSTR(l.order_id, 1, 4)), HEX(SUBSTR(l.order_id, 5, 2)), HEX(SUBSTR(l.order_id, 7, 2)),
                         HEX(SUBSTR(l.order_id, 9, 2)), HEX(SUBSTR(l.order_id, 11, 6)))) AS order_id,
         l.line_no, l.item_id, l.quantity, l.unit_price, l.customer_id, l.status, l.reason, o.status AS order_status
  FROM order_lines l JOIN orders o ON o.id = l.order_id
  UNION ALL
  SELECT LOWER(CONCAT_WS('-', HEX(SUBSTR(id, 1, 4)), HEX(SUBSTR(id, 5, 2)), HEX(SUBSTR(id, 7, 2)),
                         HEX(SUBSTR(id, 9, 2)), HEX(SUBSTR(id, 11, 6)))),
         0, item_id, quantity, NULL, customer_id, 'rejected', reason, status
  FROM orders WHERE item_id IS NOT NULL;

CREATE OR REPLACE VIEW report_stock_movements AS
  SELECT id, item_id,
         LOWER(CONCAT_WS('-', HEX(SUBSTR(ref, 1, 4)), HEX(SUBSTR(ref, 5, 2)), HEX(SUBSTR(ref, 7, 2)),
                         HEX(SUBSTR(ref, 9, 2)), HEX(SUBSTR(ref, 11, 6)))) AS ref,
         kind, delta, created_at
  FROM stock_movements;
