-- Operators look a request up by its id alone (`custos dsr show`).
CREATE INDEX dsr_requests_by_id ON dsr_requests(request_id);
