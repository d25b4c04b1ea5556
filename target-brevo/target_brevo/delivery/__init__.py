"""Getting records into Brevo: request batches, splitting refused ones, the ledger, imports, flush and STATE."""
