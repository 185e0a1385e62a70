-- Items. Only the worker changes stock, through the item's shard queue; the CHECK
-- makes any bug that would sell a unit we do not have fail loudly instead.
CREATE TABLE IF NOT EXISTS items (
  id               BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name             VARCHAR(200) NOT NULL,
  stock            BIGINT       NOT NULL,
  initial_stock    BIGINT       NOT NULL,
  max_per_customer INT          NOT NULL DEFAULT 0,
  created_at       DATETIME(6)  NOT NULL,
  updated_at       DATETIME(6)  NOT NULL,
  deleted_at       DATETIME(6)  NULL,
  CONSTRAINT items_stock_nonnegative CHECK (stock >= 0),
  CONSTRAINT items_initial_nonnegative CHECK (initial_stock >= 0),
  CONSTRAINT items_max_nonnegative CHECK (max_per_customer >= 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Orders. The worker writes an order in the transaction that decides it (or,
-- for an order spanning shards, decides its first part). The id is the
-- idempotency key of the queue message: a redelivered order finds its row.
-- display_status is orderstatus.Code of the order and its lines, kept with
-- every change so that customers' lists filter on it in SQL.
CREATE TABLE IF NOT EXISTS orders (
  id             CHAR(36) CHARACTER SET ascii NOT NULL PRIMARY KEY,
  customer_id    VARCHAR(64) NOT NULL,
  status         VARCHAR(20) CHARACTER SET ascii NOT NULL,
  reason         VARCHAR(32) CHARACTER SET ascii NULL,
  display_status VARCHAR(20) CHARACTER SET ascii NOT NULL,
  parts          INT         NOT NULL,
  parts_done     INT         NOT NULL,
  created_at     DATETIME(6) NOT NULL,
  processed_at   DATETIME(6) NULL,
  updated_at     DATETIME(6) NOT NULL,
  KEY orders_customer_display (customer_id, display_status, created_at),
  KEY orders_status_processed (status, processed_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Order lines, one per item, each with its own status. customer_id repeats the
-- order's, for the per-customer limit.
CREATE TABLE IF NOT EXISTS order_lines (
  order_id    CHAR(36) CHARACTER SET ascii NOT NULL,
  line_no     INT         NOT NULL,
  item_id     BIGINT      NOT NULL,
  quantity    INT         NOT NULL,
  customer_id VARCHAR(64) NOT NULL,
  status      VARCHAR(24) CHARACTER SET ascii NOT NULL,
  reason      VARCHAR(32) CHARACTER SET ascii NULL,
  PRIMARY KEY (order_id, line_no),
  UNIQUE KEY order_lines_order_item (order_id, item_id),
  KEY order_lines_item_customer (item_id, customer_id, status)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- The stock ledger: every change of items.stock, with what caused it. For every
-- item, initial_stock + SUM(delta) = stock.
CREATE TABLE IF NOT EXISTS stock_movements (
  id         BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
  item_id    BIGINT      NOT NULL,
  ref        CHAR(36) CHARACTER SET ascii NOT NULL,
  kind       VARCHAR(16) CHARACTER SET ascii NOT NULL,
  delta      BIGINT      NOT NULL,
  created_at DATETIME(6) NOT NULL,
  UNIQUE KEY stock_movements_ref_item_kind (ref, item_id, kind),
  KEY stock_movements_item (item_id)
) ENGINE=InnoDB;

-- Stock changes and deletions the worker applied, so a redelivery is recognised
-- even when the change was refused and moved no stock.
CREATE TABLE IF NOT EXISTS item_commands (
  id         CHAR(36) CHARACTER SET ascii NOT NULL PRIMARY KEY,
  item_id    BIGINT      NOT NULL,
  kind       VARCHAR(16) CHARACTER SET ascii NOT NULL,
  error      VARCHAR(32) CHARACTER SET ascii NULL,
  applied_at DATETIME(6) NOT NULL
) ENGINE=InnoDB;

-- Commands to publish, written in the transaction that decided to send them
-- (an order's other parts, releases of stock) and published by the worker's
-- relay, which deletes a row once the broker confirmed it.
CREATE TABLE IF NOT EXISTS outbox (
  id          BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
  routing_key VARCHAR(16) CHARACTER SET ascii NOT NULL,
  body        MEDIUMBLOB  NOT NULL,
  created_at  DATETIME(6) NOT NULL
) ENGINE=InnoDB;

-- Settings every process must agree on, such as the shard count.
CREATE TABLE IF NOT EXISTS orderq_meta (
  name  VARCHAR(64)  CHARACTER SET ascii NOT NULL PRIMARY KEY,
  value VARCHAR(255) NOT NULL
) ENGINE=InnoDB;
