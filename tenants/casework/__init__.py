"""Agency casework: assignment and work queues, promises, payments, plans, settlements, evidence, disputes,
legal escalation and performance figures."""
