-- The W3C trace context (traceparent, tracestate, x-request-id) of the change an event
-- announces, so that the publish, whenever and by whoever it happens, continues its trace.
ALTER TABLE order_outbox ADD COLUMN trace jsonb;
