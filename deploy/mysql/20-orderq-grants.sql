-- What the gateway and the worker need on their database, and nothing more:
-- rows (they read and write them), and the schema itself, since each program
-- applies the migrations at start-up (tables, indexes and the all_order_lines
-- view; CREATE OR REPLACE VIEW needs DROP as well). No privilege on any other
-- database, none to grant, none on the server (FILE, PROCESS, SUPER, ...).
-- The database exists already (MARIADB_DATABASE), so no CREATE on *.*.
-- e2e/tls_test.go grants exactly this to the user it runs the programs as.
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX, DROP, CREATE VIEW, SHOW VIEW
    ON orderq.* TO 'orderq'@'%';
