-- Items. Only the worker changes stock, through the item's shard queue; the CHECK
-- makes any bug that would sell a unit we do not have fail loudly instead.
CREATE TABLE items (
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

-- Orders, written by the worker in the transaction that decides them. The id is
-- the idempotency key of the queue message: a redelivered order finds its row.
CREATE TABLE orders (
  id           CHAR(36) CHARACTER SET ascii NOT NULL PRIMARY KEY,
  item_id      BIGINT      NOT NULL,
  quantity     INT         NOT NULL,
  customer_id  VARCHAR(64) NOT NULL,
  status       VARCHAR(16) CHARACTER SET ascii NOT NULL,
  reason       VARCHAR(32) CHARACTER SET ascii NULL,
  created_at   DATETIME(6) NOT NULL,
  processed_at DATETIME(6) NULL,
  KEY orders_item_customer (item_id, customer_id, status),
  KEY orders_customer (customer_id, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- The stock ledger: every change of items.stock, with what caused it. For every
-- item, initial_stock + SUM(delta) = stock.
CREATE TABLE stock_movements (
  id         BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
  item_id    BIGINT      NOT NULL,
  ref        CHAR(36) CHARACTER SET ascii NOT NULL,
  kind       VARCHAR(16) CHARACTER SET ascii NOT NULL,
  delta      BIGINT      NOT NULL,
  created_at DATETIME(6) NOT NULL,
  UNIQUE KEY stock_movements_ref_item (ref, item_id),
  KEY stock_movements_item (item_id)
) ENGINE=InnoDB;

-- Stock changes and deletions the worker applied, so a redelivery is recognised
-- even when the change was refused and moved no stock.
CREATE TABLE item_commands (
  id         CHAR(36) CHARACTER SET ascii NOT NULL PRIMARY KEY,
  item_id    BIGINT      NOT NULL,
  kind       VARCHAR(16) CHARACTER SET ascii NOT NULL,
  error      VARCHAR(32) CHARACTER SET ascii NULL,
  applied_at DATETIME(6) NOT NULL
) ENGINE=InnoDB;

-- Settings every process must agree on, such as the shard count.
CREATE TABLE orderq_meta (
  name  VARCHAR(64)  CHARACTER SET ascii NOT NULL PRIMARY KEY,
  value VARCHAR(255) NOT NULL
) ENGINE=InnoDB;
