/** Catalog, purchases, payments and idempotency keys. Money is integer minor units + ISO 4217. */
export const up = [
  `CREATE TABLE packages (
     id VARCHAR(64) NOT NULL PRIMARY KEY,
     name VARCHAR(200) NOT NULL,
     description VARCHAR(1000) NOT NULL DEFAULT '',
     price_amount BIGINT UNSIGNED NOT NULL,
     currency CHAR(3) NOT NULL,
     active TINYINT(1) NOT NULL DEFAULT 1,
     created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
     updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
     CONSTRAINT packages_currency_iso CHECK (currency REGEXP '^[A-Z]{3}$')
   ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`,
  `CREATE TABLE purchases (
     id VARCHAR(40) NOT NULL PRIMARY KEY,
     user_id VARCHAR(64) NOT NULL,
     package_id VARCHAR(64) NOT NULL,
     amount BIGINT UNSIGNED NOT NULL,
     currency CHAR(3) NOT NULL,
     created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
     updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
     KEY purchases_user_created (user_id, created_at, id),
     CONSTRAINT purchases_package FOREIGN KEY (package_id) REFERENCES packages (id)
   ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`,
  `CREATE TABLE payments (
     id VARCHAR(40) NOT NULL PRIMARY KEY,
     purchase_id VARCHAR(40) NOT NULL,
     user_id VARCHAR(64) NOT NULL,
     amount BIGINT UNSIGNED NOT NULL,
     currency CHAR(3) NOT NULL,
     status ENUM('pending','processing','succeeded','failed','refunded') NOT NULL DEFAULT 'pending',
     provider VARCHAR(32) NOT NULL,
     provider_ref VARCHAR(128) NULL,
     failure_code VARCHAR(64) NULL,
     created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
     updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
     UNIQUE KEY payments_purchase (purchase_id),
     UNIQUE KEY payments_provider_ref (provider, provider_ref),
     KEY payments_user (user_id),
     CONSTRAINT payments_purchase_fk FOREIGN KEY (purchase_id) REFERENCES purchases (id)
   ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`,
  `CREATE TABLE idempotency_keys (
     user_id VARCHAR(64) NOT NULL,
     idem_key VARCHAR(255) NOT NULL,
     request_method VARCHAR(8) NOT NULL,
     request_path VARCHAR(512) NOT NULL,
     request_hash CHAR(64) NOT NULL,
     response_status SMALLINT UNSIGNED NOT NULL,
     response_body MEDIUMBLOB NOT NULL,
     created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
     expires_at DATETIME(6) NOT NULL,
     PRIMARY KEY (user_id, idem_key),
     KEY idempotency_expires (expires_at)
   ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`,
  `CREATE TABLE webhook_events (
     provider VARCHAR(32) NOT NULL,
     event_id VARCHAR(128) NOT NULL,
     received_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
     PRIMARY KEY (provider, event_id)
   ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`,
];

export const down = [
  'DROP TABLE webhook_events',
  'DROP TABLE idempotency_keys',
  'DROP TABLE payments',
  'DROP TABLE purchases',
  'DROP TABLE packages',
];
