"""Delivery: claim, send and record each story once per channel; the error policy,
the pacing of sends and the scheduler's jobs."""
