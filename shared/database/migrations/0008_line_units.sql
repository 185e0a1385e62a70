-- The statuses of a line's units while they differ, one byte a unit (see
-- orderstore's lineRow), up to the largest quantity a line may have; NULL
-- while every unit is in the line's status, as on every line stored before.
ALTER TABLE order_lines ADD COLUMN units VARBINARY(1000) NULL;
