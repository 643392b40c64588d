"""Queue-style batch jobs: submitting them, answering their status, and the worker that predicts them."""
