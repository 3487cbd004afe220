-- add column "deleted_at" to table: "networks" (by hand: the generated table rebuild would drop "networks",
-- and with it, through ON DELETE CASCADE, every agent, tie and simulation)
ALTER TABLE `networks` ADD COLUMN `deleted_at` datetime NULL;
-- create index "network_deleted_at" to table: "networks"
CREATE INDEX `network_deleted_at` ON `networks` (`deleted_at`);
