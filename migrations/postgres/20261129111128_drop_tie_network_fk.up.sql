-- modify "ties" table
ALTER TABLE "ties" DROP CONSTRAINT "ties_networks_ties";
