"""HTTP plumbing: body limits, metrics."""
