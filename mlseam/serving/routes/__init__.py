"""One ``APIRouter`` per concern of a service's API: predict, examples, batches, model, health, metrics."""
