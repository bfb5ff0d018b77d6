-- A callback waits for the earlier ones owed to the same URL for the same
-- request, so a controller sees a request's statuses in the order they
-- happened: this index finds those earlier ones.
CREATE INDEX dsr_callbacks_by_request ON dsr_callbacks(workspace_id, request_id, url, id) WHERE done_at_ms IS NULL;
