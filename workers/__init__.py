"""Background work on rq: connection, queues, the worker, jobs and periodic scheduling."""
