-- orderdb-setup.sql: the source database of the pipeline, schema `orders`.
--
-- Three tables, captured by AWS DMS and streamed to Kinesis:
--   `order`         one row per order (all columns required)
--   `order_detail`  billing details of an order (optional columns)
--   `order_item`    the items of an order, keyed by (orderId, itemId); itemId is the
--                   productId of the reference data. The quantity column is `itemQuantity`,
--                   the name used everywhere downstream.
--
-- Runs on MySQL 8 and MariaDB 10.x/11.x. Safe to run again: it creates what is missing and
-- leaves existing tables and rows alone. Load the sample rows with orders-data-setup.sql.
--
-- ---------------------------------------------------------------- CDC prerequisites
-- DMS reads changes from the binary log, so the server must write one, row by row, with
-- whole rows (DMS needs the full row of every update and delete):
--
--   log_bin          = ON      (server_id set; on RDS: enable automated backups)
--   binlog_format    = ROW
--   binlog_row_image = FULL
--
-- On Amazon RDS / Aurora MySQL, set them in the DB (cluster) parameter group, together with
--
--   binlog_checksum  = NONE
--
-- and keep the binary logs long enough for DMS to catch up after a pause (at least 24 h).
-- On RDS that is a stored procedure that exists only there, so it is documented here and
-- NOT run by this script; run it yourself, as the master user, on RDS:
--
--   CALL mysql.rds_set_configuration('binlog retention hours', 24);
--
-- On a self-managed server, keep 24 h of binary logs with binlog_expire_logs_seconds = 86400
-- (MySQL 8) or expire_logs_days = 1 (MariaDB).
--
-- The DMS user needs SELECT on `orders`, plus REPLICATION CLIENT and REPLICATION SLAVE:
--
--   GRANT SELECT ON orders.* TO 'dms'@'%';
--   GRANT REPLICATION CLIENT, REPLICATION SLAVE ON *.* TO 'dms'@'%';
-- ----------------------------------------------------------------------------------

CREATE DATABASE IF NOT EXISTS orders CHARACTER SET utf8mb4;

USE orders;

-- `order` is a reserved word: always quote it.
CREATE TABLE IF NOT EXISTS `order` (
  orderId        INT            NOT NULL,
  orderAmount    DECIMAL(6,2)   NOT NULL,
  orderStatus    VARCHAR(30)    NOT NULL,
  -- ISO-8601 text, as the application writes it, e.g. 2020-05-01T17:11:49.973Z
  orderDateTime  VARCHAR(30)    NOT NULL,
  shipToName     VARCHAR(30)    NOT NULL,
  shipToAddress  VARCHAR(30)    NOT NULL,
  shipToCity     VARCHAR(30)    NOT NULL,
  shipToState    VARCHAR(30)    NOT NULL,
  shipToZip      VARCHAR(10)    NOT NULL,
  PRIMARY KEY (orderId)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- At most one billing record per order.
CREATE TABLE IF NOT EXISTS order_detail (
  orderId        INT            NOT NULL,
  billToName     VARCHAR(45)    NULL,
  billToAddress  VARCHAR(45)    NULL,
  billToCity     VARCHAR(20)    NULL,
  billToState    VARCHAR(15)    NULL,
  billToZip      VARCHAR(10)    NULL,
  PRIMARY KEY (orderId),
  CONSTRAINT fk_order_detail_order FOREIGN KEY (orderId) REFERENCES `order` (orderId)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE IF NOT EXISTS order_item (
  orderId        INT            NOT NULL,
  itemId         INT            NOT NULL,
  itemQuantity   INT            NOT NULL,
  itemAmount     DECIMAL(6,2)   NOT NULL,
  itemStatus     VARCHAR(15)    NOT NULL,
  PRIMARY KEY (orderId, itemId),
  CONSTRAINT fk_order_item_order FOREIGN KEY (orderId) REFERENCES `order` (orderId)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
