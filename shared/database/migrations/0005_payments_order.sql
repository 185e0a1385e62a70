-- The retention of rejected orders keeps every order a payment names (a
-- payment of a rejected order is money to give back), and asks for each
-- candidate whether one does: without a key on order_id that is a scan of
-- payments per order. Adding a secondary key is online in InnoDB.
ALTER TABLE payments ADD KEY payments_order (order_id);
