"""The job worker: claims report jobs from the queue table, renders, stores, completes."""
