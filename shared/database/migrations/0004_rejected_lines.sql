-- A line that never held stock (its part failed, or its order was rejected
-- before its shard was asked) is 'rejected'; 'released' now says only that a
-- line held stock and gave it back. Rows written before say 'released' for
-- both. The stock ledger tells them apart for good: a line that held stock
-- has its reservation there (kind 'order', ref its order's id, its item),
-- written in the transaction that reserved it and found by the ledger's
-- unique key. Rewriting the rows once keeps one stored form for every reader
-- (the gateway, the per-customer limit, reports and checks in SQL) instead of
-- a mapping each would repeat. It scans order_lines once; the lines rejected
-- orders keep in their own row (most of a flash sale's) change in the view.
UPDATE order_lines l
  SET l.status = 'rejected'
  WHERE l.status = 'released'
    AND NOT EXISTS (SELECT 1 FROM stock_movements m
                    WHERE m.ref = l.order_id AND m.item_id = l.item_id AND m.kind = 'order');

-- The line a rejected single-line order keeps in its row never held stock.
CREATE OR REPLACE VIEW all_order_lines AS
  SELECT order_id, line_no, item_id, quantity, unit_price, customer_id, status, reason FROM order_lines
  UNION ALL
  SELECT id, 0, item_id, quantity, NULL, customer_id, 'rejected', reason FROM orders WHERE item_id IS NOT NULL;
