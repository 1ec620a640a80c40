-- kda-orders-setup.sql: the code of the pipeline's Kinesis Data Analytics (SQL) application.
--
-- Input: "SOURCE_SQL_STREAM_001", the DMS change records of the `orders` database
-- (orderdb-setup.sql). Each row carries "recordType" (the source table), "operation"
-- (load, insert, update, delete) and the columns of all three tables; a row only fills the
-- columns of its own table.
-- Reference table: "products" ("productId", "productName", "productPrice"), one row per
-- product; an item's "itemId" is its "productId".
--
--   "ORDER_STREAM"                the orders
--   "ORDER_ITEM_STREAM"           the order items, with the product's name
--   "ORDER_ITEM_ENRICHED_STREAM"  each item with its order, matched within 30 minutes; its
--                                 columns are the attributes of the DynamoDB sink
--
-- Deletes are left out: a deleted row must not be written to the sink again.
-- Every identifier is double-quoted: Kinesis Data Analytics uppercases unquoted identifiers,
-- and the source's and the sink's names are mixed-case ("orderId", not ORDERID).

-- ---------------------------------------------------------------- orders
CREATE OR REPLACE STREAM "ORDER_STREAM" (
    "orderId"        INTEGER,
    "orderAmount"    DECIMAL(6,2),
    "orderStatus"    VARCHAR(30),
    "orderDateTime"  VARCHAR(30),
    "shipToName"     VARCHAR(30),
    "shipToAddress"  VARCHAR(30),
    "shipToCity"     VARCHAR(30),
    "shipToState"    VARCHAR(30),
    "shipToZip"      VARCHAR(10)
);

CREATE OR REPLACE PUMP "ORDER_PUMP" AS
    INSERT INTO "ORDER_STREAM" (
        "orderId", "orderAmount", "orderStatus", "orderDateTime",
        "shipToName", "shipToAddress", "shipToCity", "shipToState", "shipToZip")
    SELECT STREAM
        "orderId", "orderAmount", "orderStatus", "orderDateTime",
        "shipToName", "shipToAddress", "shipToCity", "shipToState", "shipToZip"
    FROM "SOURCE_SQL_STREAM_001"
    WHERE "recordType" = 'order'
      AND "operation" IN ('load', 'insert', 'update');

-- ---------------------------------------------------------------- order items
CREATE OR REPLACE STREAM "ORDER_ITEM_STREAM" (
    "orderId"       INTEGER,
    "itemId"        INTEGER,
    "itemQuantity"  INTEGER,
    "itemAmount"    DECIMAL(6,2),
    "itemStatus"    VARCHAR(15),
    "productName"   VARCHAR(256),
    "event_ts"      TIMESTAMP
);

-- LEFT JOIN: an item whose product is missing from the reference data still goes through,
-- with a NULL "productName". "event_ts" keeps the time the item arrived (its ROWTIME; the
-- reference table has none), for the join below.
CREATE OR REPLACE PUMP "ORDER_ITEM_PUMP" AS
    INSERT INTO "ORDER_ITEM_STREAM" (
        "orderId", "itemId", "itemQuantity", "itemAmount", "itemStatus", "productName",
        "event_ts")
    SELECT STREAM
        i."orderId", i."itemId", i."itemQuantity", i."itemAmount", i."itemStatus",
        p."productName", ROWTIME
    FROM "SOURCE_SQL_STREAM_001" AS i
    LEFT JOIN "products" AS p ON i."itemId" = p."productId"
    WHERE i."recordType" = 'order_item'
      AND i."operation" IN ('load', 'insert', 'update');

-- ---------------------------------------------------------------- items with their orders
CREATE OR REPLACE STREAM "ORDER_ITEM_ENRICHED_STREAM" (
    "orderId"        INTEGER,
    "orderAmount"    DECIMAL(6,2),
    "orderStatus"    VARCHAR(30),
    "orderDateTime"  VARCHAR(30),
    "shipToName"     VARCHAR(30),
    "shipToAddress"  VARCHAR(30),
    "shipToCity"     VARCHAR(30),
    "shipToState"    VARCHAR(30),
    "shipToZip"      VARCHAR(10),
    "itemId"         INTEGER,
    "itemQuantity"   INTEGER,
    "itemAmount"     DECIMAL(6,2),
    "itemStatus"     VARCHAR(15),
    "productName"    VARCHAR(256),
    "event_ts"       TIMESTAMP
);

-- A stream-to-stream join keeps the last 30 minutes of each side, so an item meets its
-- order whichever of the two arrives first.
CREATE OR REPLACE PUMP "ORDER_ITEM_ENRICHED_PUMP" AS
    INSERT INTO "ORDER_ITEM_ENRICHED_STREAM" (
        "orderId", "orderAmount", "orderStatus", "orderDateTime",
        "shipToName", "shipToAddress", "shipToCity", "shipToState", "shipToZip",
        "itemId", "itemQuantity", "itemAmount", "itemStatus", "productName", "event_ts")
    SELECT STREAM
        o."orderId", o."orderAmount", o."orderStatus", o."orderDateTime",
        o."shipToName", o."shipToAddress", o."shipToCity", o."shipToState", o."shipToZip",
        i."itemId", i."itemQuantity", i."itemAmount", i."itemStatus", i."productName",
        i."event_ts"
    FROM "ORDER_ITEM_STREAM" OVER (RANGE INTERVAL '30' MINUTE PRECEDING) AS i
    JOIN "ORDER_STREAM" OVER (RANGE INTERVAL '30' MINUTE PRECEDING) AS o
      ON i."orderId" = o."orderId";
