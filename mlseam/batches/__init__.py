"""Queue-style batches: the API that accepts them (SQS + S3), the worker that predicts them, their state."""
