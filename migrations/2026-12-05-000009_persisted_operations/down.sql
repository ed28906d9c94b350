DROP TABLE persisted_operations;
