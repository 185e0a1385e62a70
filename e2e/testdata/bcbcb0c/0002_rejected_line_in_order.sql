-- A single-line order rejected at its decision keeps its line in its own row
-- (item_id, quantity) instead of in order_lines. Its line holds no stock and
-- never changes again: it is released, with the order's reason. Under a flash
-- sale's crowd nearly every order is such an order, and the line's row and
-- index entries were half of what storing it cost. NULL for every other order.
ALTER TABLE orders
  ADD COLUMN item_id  BIGINT NULL AFTER customer_id,
  ADD COLUMN quantity INT    NULL AFTER item_id;

-- Every order's lines, wherever they are kept, for queries and reports.
CREATE VIEW all_order_lines AS
  SELECT order_id, line_no, item_id, quantity, customer_id, status, reason FROM order_lines
  UNION ALL
  SELECT id, 0, item_id, quantity, customer_id, 'released', reason FROM orders WHERE item_id IS NOT NULL;
