DROP TABLE seed_dropped_indexes;
