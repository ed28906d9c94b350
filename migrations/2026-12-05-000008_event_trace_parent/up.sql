-- The W3C traceparent of the request that published an event (NULL when traces are off):
-- a replica delivering the event continues that request's trace.
ALTER TABLE events ADD COLUMN trace_parent text;
