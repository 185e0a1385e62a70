-- The views an audit of a live database reads: each order line with its
-- order's last change, so that a line still held by a rejected or canceled
-- order can be told in flight (its release queued a moment ago) from stuck;
-- and the outbox's backlog, by age.
CREATE OR REPLACE VIEW report_order_lines AS
  SELECT LOWER(CONCAT_WS('-', HEX(SUBSTR(l.order_id, 1, 4)), HEX(SUBSTR(l.order_id, 5, 2)), HEX(SUBSTR(l.order_id, 7, 2)),
                         HEX(SUBSTR(l.order_id, 9, 2)), HEX(SUBSTR(l.order_id, 11, 6)))) AS order_id,
         l.line_no, l.item_id, l.quantity, l.unit_price, l.customer_id, l.status, l.reason, o.status AS order_status,
         o.updated_at AS order_updated_at
  FROM order_lines l JOIN orders o ON o.id = l.order_id
  UNION ALL
  SELECT LOWER(CONCAT_WS('-', HEX(SUBSTR(id, 1, 4)), HEX(SUBSTR(id, 5, 2)), HEX(SUBSTR(id, 7, 2)),
                         HEX(SUBSTR(id, 9, 2)), HEX(SUBSTR(id, 11, 6)))),
         0, item_id, quantity, NULL, customer_id, 'rejected', reason, status, updated_at
  FROM orders WHERE item_id IS NOT NULL;

CREATE OR REPLACE VIEW report_outbox AS
  SELECT id, routing_key, created_at FROM outbox;
