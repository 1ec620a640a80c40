-- orders-data-setup.sql: the sample orders, for a pipeline to capture.
--
-- Run after orderdb-setup.sql, once, against a schema with none of these rows (the
-- primary keys make a second run fail instead of duplicating orders). With CDC running,
-- DMS streams 15 inserts into `order`, 30 into `order_item`, then 30 updates of
-- `order_item` (itemStatus Picked -> New).
--
-- 15 orders, 10000001..10000015, each of 300.00, status New; two items per order,
-- itemId 999900001..999900030 (productIds of the reference data): the first of each pair
-- 10 x for 100.00, the second 20 x for 200.00, both inserted as Picked.

USE orders;

START TRANSACTION;

INSERT INTO `order`
  (orderId, orderAmount, orderStatus, orderDateTime,
   shipToName, shipToAddress, shipToCity, shipToState, shipToZip)
VALUES
  (10000001, 300.00, 'New', '2024-05-01T09:00:13.137Z', 'Maria Lopez', '1420 Alder Way', 'Seattle', 'WA', '98101'),
  (10000002, 300.00, 'New', '2024-05-01T09:07:26.274Z', 'James Carter', '88 Birch Lane', 'Portland', 'OR', '97205'),
  (10000003, 300.00, 'New', '2024-05-01T09:14:39.411Z', 'Aisha Khan', '301 Cedar Court', 'Denver', 'CO', '80202'),
  (10000004, 300.00, 'New', '2024-05-01T09:21:52.548Z', 'Tom Becker', '17 Dogwood Drive', 'Austin', 'TX', '78701'),
  (10000005, 300.00, 'New', '2024-05-01T09:28:05.685Z', 'Lena Novak', '560 Elm Street', 'Chicago', 'IL', '60601'),
  (10000006, 300.00, 'New', '2024-05-01T09:35:18.822Z', 'Hiro Tanaka', '42 Fir Avenue', 'San Jose', 'CA', '95113'),
  (10000007, 300.00, 'New', '2024-05-01T09:42:31.959Z', 'Grace Okafor', '9 Ginkgo Place', 'Atlanta', 'GA', '30303'),
  (10000008, 300.00, 'New', '2024-05-01T09:49:44.096Z', 'Pedro Alves', '2215 Hawthorn Road', 'Miami', 'FL', '33130'),
  (10000009, 300.00, 'New', '2024-05-01T09:56:57.233Z', 'Emma Larsen', '73 Ivy Boulevard', 'Minneapolis', 'MN', '55401'),
  (10000010, 300.00, 'New', '2024-05-01T10:03:10.370Z', 'Omar Haddad', '640 Juniper Street', 'Phoenix', 'AZ', '85004'),
  (10000011, 300.00, 'New', '2024-05-01T10:10:23.507Z', 'Chloe Martin', '118 Kapok Terrace', 'Boston', 'MA', '02108'),
  (10000012, 300.00, 'New', '2024-05-01T10:17:36.644Z', 'Ravi Iyer', '905 Linden Avenue', 'Raleigh', 'NC', '27601'),
  (10000013, 300.00, 'New', '2024-05-01T10:24:49.781Z', 'Sofia Rossi', '36 Magnolia Court', 'Nashville', 'TN', '37203'),
  (10000014, 300.00, 'New', '2024-05-01T10:31:02.918Z', 'Noah Fischer', '1207 Nutmeg Way', 'Salt Lake City', 'UT', '84101'),
  (10000015, 300.00, 'New', '2024-05-01T10:38:15.055Z', 'Yuki Sato', '51 Oak Hollow Road', 'Columbus', 'OH', '43215');

INSERT INTO order_item (orderId, itemId, itemQuantity, itemAmount, itemStatus)
VALUES
  (10000001, 999900001, 10, 100.00, 'Picked'),
  (10000001, 999900002, 20, 200.00, 'Picked'),
  (10000002, 999900003, 10, 100.00, 'Picked'),
  (10000002, 999900004, 20, 200.00, 'Picked'),
  (10000003, 999900005, 10, 100.00, 'Picked'),
  (10000003, 999900006, 20, 200.00, 'Picked'),
  (10000004, 999900007, 10, 100.00, 'Picked'),
  (10000004, 999900008, 20, 200.00, 'Picked'),
  (10000005, 999900009, 10, 100.00, 'Picked'),
  (10000005, 999900010, 20, 200.00, 'Picked'),
  (10000006, 999900011, 10, 100.00, 'Picked'),
  (10000006, 999900012, 20, 200.00, 'Picked'),
  (10000007, 999900013, 10, 100.00, 'Picked'),
  (10000007, 999900014, 20, 200.00, 'Picked'),
  (10000008, 999900015, 10, 100.00, 'Picked'),
  (10000008, 999900016, 20, 200.00, 'Picked'),
  (10000009, 999900017, 10, 100.00, 'Picked'),
  (10000009, 999900018, 20, 200.00, 'Picked'),
  (10000010, 999900019, 10, 100.00, 'Picked'),
  (10000010, 999900020, 20, 200.00, 'Picked'),
  (10000011, 999900021, 10, 100.00, 'Picked'),
  (10000011, 999900022, 20, 200.00, 'Picked'),
  (10000012, 999900023, 10, 100.00, 'Picked'),
  (10000012, 999900024, 20, 200.00, 'Picked'),
  (10000013, 999900025, 10, 100.00, 'Picked'),
  (10000013, 999900026, 20, 200.00, 'Picked'),
  (10000014, 999900027, 10, 100.00, 'Picked'),
  (10000014, 999900028, 20, 200.00, 'Picked'),
  (10000015, 999900029, 10, 100.00, 'Picked'),
  (10000015, 999900030, 20, 200.00, 'Picked');

COMMIT;

-- Every status to New: the items change (Picked -> New); the orders already are New, so
-- that statement changes no row and only makes the end state certain.
START TRANSACTION;

UPDATE order_item SET itemStatus = 'New' WHERE orderId BETWEEN 10000001 AND 10000015;
UPDATE `order` SET orderStatus = 'New' WHERE orderId BETWEEN 10000001 AND 10000015;

COMMIT;
