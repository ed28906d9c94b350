DROP TABLE trusted_documents;
DROP TABLE persisted_operations;
