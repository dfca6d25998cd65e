-- The device that sent a command under an Idempotency-Key, so that a client syncing from that
-- device can be told which of its queued commands were processed (GET /v1/sync). Null for
-- commands without a device (staff, system, or a session that never named one).
alter table platform_idempotency_keys add column device_id text;
