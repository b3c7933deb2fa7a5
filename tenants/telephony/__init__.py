"""Click-to-call: a call is decided by the conduct engine before anything dials, then placed through one telephony
gateway (tenants.telephony.gateways); the gateway's report of how the call went records the attempt's outcome
(tenants.telephony.calls)."""
