"""What operators see: Prometheus metrics (`/metrics`), request ids and JSON logs."""
