"""Storage: the store of record, vector indexes, and objects (S3Object -> local files)."""
