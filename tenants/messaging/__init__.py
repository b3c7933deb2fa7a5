"""Message templates (SMS, email, letters) written and approved by lenders, and messages sent from them through
the conduct engine and a gateway."""
