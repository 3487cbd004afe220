-- reverse: modify "ties" table
ALTER TABLE "ties" ADD CONSTRAINT "ties_networks_ties" FOREIGN KEY ("network_id") REFERENCES "networks" ("id") ON UPDATE NO ACTION ON DELETE CASCADE;
